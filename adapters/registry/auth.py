"""Registry authentication: Docker config credentials and Basic / Bearer-token challenges.

Credentials come only from the Docker config (``auths`` entries, ``credsStore`` and
``credHelpers``), read with the ``docker`` package's own auth code. A challenge
(``WWW-Authenticate``) is remembered per registry host so later requests authorise up front;
Bearer tokens are cached per (realm, service, scope) until shortly before they expire.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.registry.options import RegistryOptions
from schemas.errors import ConfigError, RegistryAuthError, RegistryError

if TYPE_CHECKING:  # the docker package (and requests under it) loads when credentials are first looked up
    import docker.auth

CLIENT_ID = "stagesweep"
DEFAULT_TOKEN_LIFETIME = 60.0  # seconds, per the token authentication specification
TOKEN_EXPIRY_MARGIN = 10.0


@dataclass(frozen=True)
class Credential:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict[str, str]


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values (``Bearer realm="…",service="…",scope="…"``)."""
    challenges = []
    for header in headers:
        scheme, _, rest = header.strip().partition(" ")
        if not scheme:
            continue
        items = urllib.request.parse_http_list(rest)
        params = {k.lower(): v for k, v in urllib.request.parse_keqv_list([i for i in items if "=" in i]).items()}
        challenges.append(Challenge(scheme=scheme.lower(), params=params))
    return challenges


def docker_config_file(options: RegistryOptions) -> str:
    """The Docker config file the options point at (it may not exist)."""
    if options.docker_config:
        path = os.path.expanduser(options.docker_config)
        return path if os.path.isfile(path) else os.path.join(path, "config.json")
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(directory, "config.json")


class DockerCredentials:
    """Looks registry credentials up in one Docker config file (loaded once, lazily)."""

    def __init__(self, config_file: str, fallback: Callable[[str], tuple[str, str] | None] | None = None) -> None:
        self.config_file = config_file
        #: asked for a host the config has no credentials for (e.g. an ECR token)
        self.fallback = fallback
        self._config: docker.auth.AuthConfig | None = None
        self._cache: dict[str, Credential | None] = {}
        self._lock = threading.Lock()

    def _load(self) -> docker.auth.AuthConfig:
        import docker.auth
        import docker.errors

        if self._config is None:
            if not os.path.exists(self.config_file):
                self._config = docker.auth.AuthConfig({})
            else:
                try:
                    with open(self.config_file) as handle:
                        content = json.load(handle)
                    self._config = docker.auth.load_config(config_dict=content) if content else docker.auth.AuthConfig({})
                except (OSError, ValueError, docker.errors.DockerException) as exc:
                    raise ConfigError(
                        f"cannot read the Docker config: {exc}",
                        file=self.config_file,
                        hint="Fix the file (it must be JSON as written by `docker login`) or point "
                        "--docker-config / DOCKER_CONFIG at another directory.",
                    ) from exc
        return self._config

    def lookup(self, host: str) -> Credential | None:
        with self._lock:
            if host in self._cache:
                return self._cache[host]
            import docker.errors

            try:
                entry = self._load().resolve_authconfig(host)
            except docker.errors.DockerException as exc:
                raise RegistryAuthError(
                    f"the credential helper for {host} failed: {exc}",
                    url=host,
                    hint=f"Check the credsStore/credHelpers entries in {self.config_file} and that "
                    "the helper program is installed.",
                ) from exc
            credential = None
            if entry:
                values = {k.lower(): v for k, v in entry.items()}
                if values.get("identitytoken"):
                    credential = Credential(username=values.get("username"), identity_token=values["identitytoken"])
                elif values.get("username") is not None:
                    credential = Credential(username=values["username"], password=values.get("password") or "")
            if credential is None and self.fallback is not None:
                found = self.fallback(host)
                if found is not None:
                    credential = Credential(username=found[0], password=found[1])
            self._cache[host] = credential
            return credential


# fetch(method, url, headers, body) -> (status, headers-like, body bytes)
Fetch = Callable[[str, str, dict[str, str], bytes | None], tuple[int, object, bytes]]


class Authenticator:
    """Produces ``Authorization`` header values for registry requests."""

    def __init__(self, credentials: DockerCredentials, fetch: Fetch) -> None:
        self.credentials = credentials
        self._fetch = fetch
        self._challenges: dict[str, Challenge] = {}
        self._scope_alias: dict[tuple[str, str], str] = {}
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._token_locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    # -- up-front authorisation ------------------------------------------------------------
    def authorization(self, host: str, scope: str | None) -> str | None:
        """Header for a request to ``host`` if the host challenged before, else None."""
        challenge = self._challenges.get(host)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._basic(host)
        scope = self._scope_alias.get((host, scope or ""), scope or "")
        return self._bearer(host, challenge, scope)

    # -- answering a 401 -------------------------------------------------------------------
    def answer(self, host: str, headers: list[str], scope: str | None, url: str, sent: str | None = None) -> str:
        """Header answering the 401 challenge(s) in ``headers`` for a request needing ``scope``;
        ``sent`` is the ``Authorization`` the refused request carried (a token not to reuse)."""
        challenges = {c.scheme: c for c in parse_challenges(headers)}
        challenge = challenges.get("bearer") or challenges.get("basic")
        if challenge is None:
            raise RegistryAuthError(
                f"registry {host} asked for authentication with an unsupported scheme {headers!r} [{url}]",
                status=401,
                url=url,
                hint="Only Basic and Bearer-token authentication are supported.",
            )
        with self._lock:
            self._challenges[host] = challenge
        if challenge.scheme == "basic":
            header = self._basic(host)
            if header is None:
                raise self.missing_credentials(host, url)
            return header
        wanted = challenge.params.get("scope") or scope or ""
        if scope and wanted != scope:
            with self._lock:
                self._scope_alias[(host, scope)] = wanted
        rejected = sent[len("Bearer ") :] if sent and sent.startswith("Bearer ") else None
        return self._bearer(host, challenge, wanted, rejected=rejected)

    def missing_credentials(self, host: str, url: str) -> RegistryAuthError:
        return RegistryAuthError(
            f"registry {host} requires authentication and the Docker config "
            f"({self.credentials.config_file}) has no credentials for it [{url}]",
            status=401,
            url=url,
            hint=f"Run `docker login {host}` (or add an `auths` entry for {host}), or point "
            "--docker-config / DOCKER_CONFIG at the directory that holds them.",
        )

    def refused(self, host: str, url: str, code: str | None) -> RegistryAuthError:
        credential = self.credentials.lookup(host)
        if credential is None:
            return self.missing_credentials(host, url)
        who = credential.username or "the identity token"
        return RegistryAuthError(
            f"registry {host} refused the credentials of {who} from {self.credentials.config_file} [{url}]",
            status=401,
            code=code,
            url=url,
            hint=f"Log in again with `docker login {host}` or check the `auths` entry for {host}.",
        )

    # -- schemes -----------------------------------------------------------------------------
    def _basic(self, host: str) -> str | None:
        credential = self.credentials.lookup(host)
        if credential is None or credential.password is None:
            return None
        raw = f"{credential.username}:{credential.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _bearer(self, host: str, challenge: Challenge, scope: str, *, rejected: str | None = None) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryAuthError(f"registry {host} sent a Bearer challenge without a realm", status=401, url=host)
        key = (realm, challenge.params.get("service", ""), scope)
        cached = self._tokens.get(key)
        if cached and cached[0] != rejected and cached[1] > time.monotonic():
            return f"Bearer {cached[0]}"
        with self._lock:
            key_lock = self._token_locks.setdefault(key, threading.Lock())
        with key_lock:  # one fetch per scope, however many threads need it at once
            cached = self._tokens.get(key)
            if cached and cached[0] != rejected and cached[1] > time.monotonic():
                return f"Bearer {cached[0]}"
            token, lifetime = self._fetch_token(host, realm, key[1], scope)
            margin = min(TOKEN_EXPIRY_MARGIN, lifetime / 2)
            self._tokens[key] = (token, time.monotonic() + lifetime - margin)
        return f"Bearer {token}"

    def _fetch_token(self, host: str, realm: str, service: str, scope: str) -> tuple[str, float]:
        credential = self.credentials.lookup(host)
        scopes = [s for s in scope.split(" ") if s]
        headers: dict[str, str] = {}
        if credential is not None and credential.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.identity_token,
                "client_id": CLIENT_ID,
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            status, _, body = self._fetch("POST", realm, headers, urllib.parse.urlencode(form).encode())
        else:
            query = [("service", service)] if service else []
            query += [("scope", s) for s in scopes] + [("client_id", CLIENT_ID)]
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
            basic = self._basic(host)
            if basic:
                headers["Authorization"] = basic
            status, _, body = self._fetch("GET", url, headers, None)
        if status in (401, 403):
            raise RegistryAuthError(
                f"the token service {realm} of registry {host} refused "
                f"{'the credentials from ' + self.credentials.config_file if credential else 'anonymous access'} "
                f"for scope {scope!r}",
                status=status,
                url=realm,
                hint=f"Run `docker login {host}` or check the Docker config entry for {host}.",
            )
        if status != 200:
            raise RegistryError(
                f"the token service {realm} of registry {host} answered {status}",
                status=status,
                url=realm,
                retryable=status >= 500 or status == 429,
            )
        try:
            document = json.loads(body)
            token = document.get("token") or document.get("access_token")
            lifetime = float(document.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError):
            token, lifetime = None, 0.0
        if not token:
            raise RegistryAuthError(
                f"the token service {realm} of registry {host} answered without a token",
                status=status,
                url=realm,
            )
        return token, max(lifetime, 1.0)
