"""``dockerhub``: Docker Hub removes a tag through its own API on hub.docker.com — its registry
(registry-1.docker.io) has no manifest delete.

From the Docker Hub API reference (docs.docker.com/reference/api/hub/latest):

* **Log in**: ``POST /v2/auth/token`` with ``{"identifier": <user>, "secret": <password or personal
  access token>}`` → ``{"access_token": …}``, a bearer token valid for 10 minutes. The reference
  documents this route and marks the older ``POST /v2/users/login`` (``{username, password}`` →
  ``{token}``) deprecated, so this one is used. The credentials are the Docker config's for the
  repository's registry host (for Docker Hub, the ``https://index.docker.io/v1/`` entry that
  ``docker login`` writes).
* **Delete**: ``DELETE /v2/repositories/<namespace>/<repository>/tags/<tag>/`` with
  ``Authorization: Bearer <token>`` → 204; 404 when the tag is gone. Only that tag goes: the image
  stays while another tag names it, so the shared-digest rule does not apply.
* **Pre-flight**: log in (401: the credentials are wrong), then
  ``GET /v2/repositories/<namespace>/<repository>/``, whose ``permissions`` object (``read``,
  ``write``, ``admin``) says what the caller may do. Deleting needs ``admin`` on the repository; a
  personal access token has it only with the "Read, Write, Delete" permission (``repo:admin``).
* **Listing with digests** (warm reads, the staying tags of a batch): ``GET
  /v2/namespaces/<namespace>/repositories/<repository>/tags?page_size=100`` — the listing the
  reference documents (the legacy ``/v2/repositories/…/tags`` answers alike) — following ``next``
  only on the API's own origin; each result carries the tag's ``digest``.
* **Rate limits**: 429 with ``Retry-After`` (seconds) and/or ``X-RateLimit-Reset`` (epoch
  seconds); older answers sent ``X-Retry-After`` (epoch seconds), which is honoured too.

The API base is ``https://hub.docker.com``, or ``STAGESWEEP_DOCKERHUB_API_URL`` (tests, a proxy).
The Docker config's credentials go to that base only, and to the default base only for a
repository on a Docker Hub host: a repository elsewhere needs the variable set to its API.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Mapping

from adapters.registry.auth import Credential
from adapters.registry.reference import DOCKER_HUB, Reference
from adapters.registry.transport import Response, origin
from adapters.registry.vendors.base import TagDeleter, listed_tag, namespace_and_name
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

API_URL_VARIABLE = "STAGESWEEP_DOCKERHUB_API_URL"
DEFAULT_API_URL = "https://hub.docker.com"
#: an access token of ``POST /v2/auth/token`` lives 10 minutes; renew a minute early
TOKEN_LIFETIME = 600.0
TOKEN_MARGIN = 60.0
PAGE_SIZE = 100  # the reference's maximum
_JSON = {"Accept": "application/json"}


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class DockerHubDeleter(TagDeleter):
    implementation = RepoImplementation.DOCKERHUB

    def __init__(self, client, env: Mapping[str, str] | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(client, env)
        #: (API base, user) → (access token, monotonic expiry)
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._login_lock = threading.Lock()

    # -- where, and as whom ---------------------------------------------------------------
    def api_base(self) -> str:
        """The Docker Hub API base URL (``STAGESWEEP_DOCKERHUB_API_URL`` or hub.docker.com)."""
        configured = (self.env.get(API_URL_VARIABLE) or "").strip().rstrip("/")
        if not configured:
            return DEFAULT_API_URL
        parts = urllib.parse.urlsplit(configured)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc or parts.query or parts.fragment:
            raise RegistryError(
                f"{API_URL_VARIABLE} is not an http(s) URL of a Docker Hub API (scheme, host and optional port and path)",
                hint=f"Set {API_URL_VARIABLE} to e.g. {DEFAULT_API_URL}, or unset it to use Docker Hub.",
            )
        return configured

    def _names(self, repository: str) -> tuple[Reference, str, str]:
        """(reference, namespace, repository name) of ``repository``: the first path component
        and the rest (``docker.io/library/x`` → ``library``, ``x``)."""
        return namespace_and_name(
            repository,
            f"{repository} names no Docker Hub namespace and repository (NAMESPACE/REPOSITORY)",
            "Address Docker Hub repositories as docker.io/NAMESPACE/REPOSITORY.",
        )

    def _credential(self, ref: Reference) -> Credential:
        """The Docker config's user and password (or personal access token) for the repository's
        host — refused before anything is sent when they would go to a host they do not belong to."""
        hub_hosts = {host for host in self.spec.hosts if "*" not in host}
        if not (self.env.get(API_URL_VARIABLE) or "").strip() and ref.registry.lower() not in hub_hosts:
            raise RegistryError(
                f"the dockerhub implementation deletes through the Docker Hub API ({DEFAULT_API_URL}), and "
                f"{ref.repository} is not on Docker Hub: its registry credentials are not sent there",
                hint=f"Pass --repo-implementation default (or auto) for {ref.registry}, or set {API_URL_VARIABLE} "
                "to the Docker Hub API that serves this registry. Nothing was deleted.",
            )
        store = self.client.transport.auth.credentials
        credential = store.lookup(ref.registry)
        if credential is None and ref.registry.lower() in hub_hosts and ref.registry != DOCKER_HUB:
            credential = store.lookup(DOCKER_HUB)
        if credential is None or not credential.username or not credential.password:
            login = "docker login" if ref.registry.lower() in hub_hosts else f"docker login {ref.registry}"
            what = "no credentials" if credential is None else "no username and password (an identity token only)"
            raise RegistryAuthError(
                f"the Docker config ({store.config_file}) has {what} for {ref.registry}: the Docker Hub API "
                f"needs a user and a password or personal access token to delete tags in {ref.repository}",
                status=401,
                url=ref.registry,
                hint=f"Run `{login}` with a personal access token with the {self.spec.permission}, or point "
                "--docker-config / DOCKER_CONFIG at the directory that holds one. " + self.permission_hint(),
            )
        return credential

    # -- the API ------------------------------------------------------------------------------
    def _token(self, ref: Reference, *, stale: str | None = None) -> str:
        """A bearer token for the Docker Hub API: cached until shortly before it expires; ``stale``
        (refused with 401) is replaced unless another thread already did."""
        base = self.api_base()
        credential = self._credential(ref)
        key = (base, str(credential.username))
        with self._login_lock:  # one login however many threads need a token at once
            cached = self._tokens.get(key)
            if cached and cached[0] != stale and cached[1] > time.monotonic():
                return cached[0]
            url = f"{base}/v2/auth/token"
            body = json.dumps({"identifier": credential.username, "secret": credential.password}).encode()
            response = self.api_request("POST", url, headers={**_JSON, "Content-Type": "application/json"}, body=body)
            if response.status in (401, 403):
                raise RegistryAuthError(
                    f"the Docker Hub API refused the credentials of {credential.username} from the Docker config "
                    f"({self.client.transport.auth.credentials.config_file}) for {ref.registry} ({response.status}) [{url}]",
                    status=response.status,
                    url=url,
                    hint=f"Run `docker login` again with a personal access token with the {self.spec.permission}. "
                    + self.permission_hint(),
                )
            if response.status != 200:
                raise self.fail(f"cannot log in to the Docker Hub API as {credential.username}", response)
            try:
                document = json.loads(response.body)
                token = document.get("access_token") or document.get("token")
            except (ValueError, AttributeError):
                token = None
            if not isinstance(token, str) or not token:
                raise RegistryError(
                    f"the Docker Hub API answered a login without an access token [{url}]", url=url, retryable=True
                )
            self._tokens[key] = (token, time.monotonic() + TOKEN_LIFETIME - TOKEN_MARGIN)
            return token

    def _hub(self, method: str, ref: Reference, target: str) -> Response:
        """One Docker Hub API request (``target``: a path under the API base, or a URL on its
        origin) with the bearer token; a token refused with 401 (expired) is renewed once."""
        url = target if "://" in target else self.api_base() + target
        token = self._token(ref)
        response = self.api_request(method, url, authorization=f"Bearer {token}", headers=_JSON)
        if response.status == 401:
            token = self._token(ref, stale=token)
            response = self.api_request(method, url, authorization=f"Bearer {token}", headers=_JSON)
        return response

    def fail(self, what: str, response: Response, *, message: str | None = None) -> RegistryError:
        error = super().fail(what, response, message=message)
        if isinstance(error, RegistryRateLimited) and error.retry_after is None:
            legacy = (response.header("X-Retry-After") or "").strip()
            if legacy.isdigit():  # documented as a unix time; small values are taken as seconds
                value = int(legacy)
                error.retry_after = float(max(0, value - int(time.time()))) if value > 10**9 else float(value)
        return error

    # -- TagDeleter ---------------------------------------------------------------------------
    def preflight(self, repository: str) -> None:
        ref, namespace, name = self._names(repository)
        what = f"cannot check deletes in {repository}"
        response = self._hub("GET", ref, f"/v2/repositories/{_segment(namespace)}/{name}/")
        if response.status in (401, 403):
            raise self.refused(what, response)
        document = self.repository_document(
            what, response, f"{what}: Docker Hub knows no repository {namespace}/{name} that this user can see [{response.url}]"
        )
        permissions = (document or {}).get("permissions")
        if not isinstance(permissions, dict):
            return  # no permissions in the answer: the deletes themselves will tell (403 stops the run)
        if not permissions.get("admin"):
            granted = ", ".join(p for p in ("read", "write", "admin") if permissions.get(p)) or "nothing"
            raise self.denied(
                f"{what}: the dockerhub API grants {granted} on {namespace}/{name}, and deleting tags needs admin "
                f"— {self.spec.permission} [{response.url}]",
                url=response.url,
            )

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        ref, namespace, name = self._names(repository)
        response = self._hub("DELETE", ref, f"/v2/repositories/{_segment(namespace)}/{name}/tags/{_segment(tag)}/")
        return self.deleted_or_gone(f"cannot delete tag {repository}:{tag}", response)

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Tag → digest from the Docker Hub tag listing (100 a page). A ``next`` page on another
        origin is not followed (the tags it would list are looked up one by one instead); None
        when the listing cannot be had."""
        try:
            ref, namespace, name = self._names(repository)
            base = self.api_base()
            url: str | None = f"{base}/v2/namespaces/{_segment(namespace)}/repositories/{name}/tags?page_size={PAGE_SIZE}"
            found: dict[str, str] = {}
            seen: set[str] = set()
            while url is not None and url not in seen:
                seen.add(url)
                response = self._hub("GET", ref, url)
                if response.status != 200:
                    return None
                document = json.loads(response.body)
                for item in document.get("results") or []:
                    if (listed := listed_tag(item)) is not None:
                        found[listed[0]] = listed[1]
                following = document.get("next")
                url = urllib.parse.urljoin(url, following) if isinstance(following, str) and following else None
                if url is not None and origin(url) != origin(base):
                    break  # never send the token elsewhere
            return found
        except (RegistryError, ValueError, AttributeError, TypeError):
            return None
