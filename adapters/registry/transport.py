"""HTTP transport to registries: stdlib ``http.client`` with one keep-alive connection per
thread and host, TLS options, authentication challenges, redirects and network errors.

``http.client`` was measured against urllib3 on this workload (many small requests from a
thread pool) and costs about half the client CPU per request; see bench/README.md.
"""

from __future__ import annotations

import functools
import http.client
import os
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from email.message import Message

from adapters.registry.auth import Authenticator, DockerCredentials, docker_config_file
from adapters.registry.errors import parse_error_body
from adapters.registry.options import RegistryOptions
from adapters.registry.reference import DOCKER_HUB
from schemas.errors import ConfigError, RegistryError

USER_AGENT = "stagesweep"
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)
# Docker Hub's API lives on another host than its name.
_API_HOSTS = {DOCKER_HUB: "registry-1.docker.io"}


def _split(url: str) -> tuple[str, str, str]:
    """(scheme, host[:port], path?query) of an absolute URL; cheaper than urlsplit per request."""
    scheme, _, rest = url.partition("://")
    netloc, slash, target = rest.partition("/")
    return scheme.lower(), netloc, ("/" + target if slash else "/").split("#", 1)[0]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an absolute URL, host lower-cased and the default port filled
    in: two URLs may share credentials only when their origins are equal."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a malformed port is nobody's origin
        return scheme, parts.netloc.lower(), -1
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def tls_context(options: RegistryOptions) -> ssl.SSLContext:
    """The TLS context for `options`: one per CA file (as it is on disk) and verify setting in the
    process, shared by every transport (making one costs ~30 ms; a context is safe to share)."""
    stamp = None
    try:
        if options.ca_file:
            info = os.stat(options.ca_file)
            stamp = (info.st_mtime_ns, info.st_size)
        return _tls_context(options.ca_file, stamp, options.skip_tls_verify)
    except (OSError, ssl.SSLError) as exc:  # before any request: the run stops before its first delete
        raise ConfigError(
            f"the registry CA file {options.ca_file} could not be read as PEM certificates: {exc}",
            hint="Point --registry-ca-file (STAGESWEEP_REGISTRY_CA_FILE) at a readable PEM bundle.",
        ) from None


@functools.lru_cache(maxsize=16)
def _tls_context(ca_file: str | None, stamp: tuple[int, int] | None, skip_verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Transport:
    """Sends requests to registries; safe to share between threads."""

    def __init__(self, options: RegistryOptions) -> None:
        self.options = options
        self.scheme = "http" if options.insecure_registry else "https"
        self._tls = tls_context(options)
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._origins: dict[str, tuple[str, str, int | None]] = {}
        self.auth = Authenticator(DockerCredentials(docker_config_file(options), options.credential_source), self._fetch_for_auth)

    # -- public ------------------------------------------------------------------------------
    def url(self, host: str, path: str) -> str:
        return f"{self.scheme}://{_API_HOSTS.get(host, host)}{path}"

    def request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        scope: str | None = None,
    ) -> Response:
        """Send to registry ``host`` (``127.0.0.1:5000``) the ``path`` (``/v2/…``) or an absolute
        URL (a ``Link`` or upload ``Location`` the registry sent); authenticate (answering one
        challenge) and follow GET/HEAD redirects.

        Credentials are scoped to the registry's origin (scheme, host, port): a request to any
        other origin — an absolute URL naming another host, or a redirect hop to one — carries
        no ``Authorization`` and its 401 challenges are not answered with the registry's
        credentials. (The token realm is reached by the authenticator itself, which sends it
        the registry's Basic credentials as the token specification prescribes.)"""
        absolute = "://" in path
        url = path if absolute else self.url(host, path)
        registry_origin = self._origin(host)
        own = (not absolute and path.startswith("/")) or origin(url) == registry_origin
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        authorization = self.auth.authorization(host, scope) if own else None
        if authorization:
            sent["Authorization"] = authorization
        response = self.send(method, url, sent, body)
        if response.status == 401 and own:
            challenges = response.headers.get_all("WWW-Authenticate") or []
            if not challenges:
                return response
            answer = self.auth.answer(host, challenges, scope, url, sent=authorization)
            if answer == authorization:
                raise self.auth.refused(host, url, parse_error_body(response.body)[0])
            sent["Authorization"] = answer
            response = self.send(method, url, sent, body)
            if response.status == 401:
                raise self.auth.refused(host, url, parse_error_body(response.body)[0])
        hops = 0
        while response.status in _REDIRECTS and method in ("GET", "HEAD") and hops < MAX_REDIRECTS:
            location = response.header("Location")
            if not location:
                break
            url = urllib.parse.urljoin(url, location)
            if origin(url) != registry_origin:
                sent.pop("Authorization", None)  # never leak registry credentials to storage hosts
            response = self.send(method, url, sent, body=None)
            hops += 1
        return response

    def _origin(self, host: str) -> tuple[str, str, int | None]:
        """The origin of registry ``host`` (asked on every request)."""
        found = self._origins.get(host)
        if found is None:
            found = self._origins[host] = origin(self.url(host, "/"))
        return found

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> Response:
        """One HTTP exchange on a kept-alive connection; a connection the server closed while
        idle is replaced once. Network failures become retryable ``RegistryError``s."""
        if self.options.request_slot is not None:
            with self.options.request_slot(_split(url)[1]):
                return self._send(method, url, headers, body)
        return self._send(method, url, headers, body)

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Response:
        scheme, netloc, target = _split(url)
        headers = {"User-Agent": USER_AGENT, **headers}
        for attempt in (1, 2):
            conn, reused = self._connection(scheme, netloc)
            try:
                conn.request(method, target, body=body, headers=headers)
                raw = conn.getresponse()
                data = raw.read()
            except _STALE_CONNECTION_ERRORS as exc:
                self._discard(scheme, netloc, conn)
                if reused and attempt == 1:
                    continue
                raise self._network_error(exc, method, url) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._discard(scheme, netloc, conn)
                raise self._network_error(exc, method, url) from exc
            if raw.will_close:
                self._discard(scheme, netloc, conn)
            return Response(status=raw.status, headers=raw.headers, body=data, url=url)
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._open = list(self._open), set()
        for conn in connections:
            conn.close()

    # -- connections -------------------------------------------------------------------------
    def _connection(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        conn = pool.get((scheme, netloc))
        if conn is not None and conn.sock is not None:
            return conn, True
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=self.options.timeout, context=self._tls)
        elif scheme == "http":
            conn = http.client.HTTPConnection(netloc, timeout=self.options.timeout)
        else:
            raise RegistryError(f"unsupported URL scheme {scheme!r} for {netloc}", url=netloc)
        pool[(scheme, netloc)] = conn
        with self._lock:
            if self._closed:
                raise RegistryError("the registry client is closed", url=netloc)
            self._open.add(conn)
        return conn, False

    def _discard(self, scheme: str, netloc: str, conn: http.client.HTTPConnection) -> None:
        conn.close()
        pool = getattr(self._local, "pool", {})
        if pool.get((scheme, netloc)) is conn:
            del pool[(scheme, netloc)]
        with self._lock:
            self._open.discard(conn)

    def _fetch_for_auth(self, method: str, url: str, headers: dict[str, str], body: bytes | None):
        response = self.send(method, url, headers, body)
        return response.status, response.headers, response.body

    # -- errors ------------------------------------------------------------------------------
    def _network_error(self, exc: BaseException, method: str, url: str) -> RegistryError:
        netloc = urllib.parse.urlsplit(url).netloc
        if isinstance(exc, ssl.SSLCertVerificationError):
            return RegistryError(
                f"the TLS certificate of registry {netloc} could not be verified: {exc.verify_message or exc} [{url}]",
                url=url,
                hint="Trust the registry's CA (system store), or pass --skip-tls-verify-registry; "
                "for a plain-HTTP registry pass --insecure-registry.",
            )
        if isinstance(exc, ssl.SSLError):
            return RegistryError(
                f"TLS handshake with registry {netloc} failed: {exc} [{url}]",
                url=url,
                hint="If the registry speaks plain HTTP, pass --insecure-registry.",
            )
        if isinstance(exc, TimeoutError):
            what = f"timed out after {self.options.timeout:g}s"
        elif isinstance(exc, ConnectionRefusedError):
            what = "connection refused"
        elif isinstance(exc, _STALE_CONNECTION_ERRORS):
            what = "the connection was closed or reset"
        else:
            what = f"{type(exc).__name__}: {exc}"
        return RegistryError(
            f"{method} to registry {netloc} failed: {what} [{url}]",
            url=url,
            retryable=True,
            hint="Check that the registry address is right and the registry is running; the operation can be retried.",
        )
