"""A small loopback HTTP proxy in front of a real registry, for behaviour the Distribution
registry 2.8 does not have: Bearer-token authentication (with its own token endpoint),
``Link``-paged tag lists, and injected failures (429, 5xx)."""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_TAGS_PATH = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags)/")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "authorization", "content-length"}


@dataclass
class Injected:
    status: int
    headers: dict[str, str]
    body: bytes
    after: int = 0  # matching requests to let through first


@dataclass
class TokenGrant:
    token: str
    user: str | None
    scopes: tuple[str, ...]
    expires_at: float


@dataclass
class ProxyState:
    upstream: str
    users: dict[str, str] | None
    token_lifetime: float
    page_size: int | None
    token_valid_for: float | None = None  # server-side validity, when shorter than announced
    identity_tokens: dict[str, str] = field(default_factory=dict)
    host: str = ""
    token_requests: list[dict] = field(default_factory=list)
    grants: dict[str, TokenGrant] = field(default_factory=dict)
    injected: list[tuple[re.Pattern, Injected]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _needed_action(method: str) -> str:
    return {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(method, "push")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ProxyState

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        with self.state.lock:
            for index, (pattern, injected) in enumerate(self.state.injected):
                if pattern.search(parts.path):
                    if injected.after:
                        injected.after -= 1
                        break
                    del self.state.injected[index]
                    return self._reply(injected.status, injected.headers, injected.body)
        if parts.path == "/token":
            return self._token(parts, body)
        if self.state.users is not None and not self._authorised(parts.path):
            return
        match = _TAGS_PATH.match(parts.path)
        if match and self.state.page_size and self.command == "GET":
            return self._paged_tags(match.group("name"), parts)
        self._forward(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    # -- bearer tokens ---------------------------------------------------------------------
    def _token(self, parts, body: bytes) -> None:
        query = urllib.parse.parse_qs(parts.query)
        user = None
        header = self.headers.get("Authorization", "")
        if self.command == "POST":  # OAuth2 refresh-token grant (identity tokens)
            query = urllib.parse.parse_qs(body.decode())
            query["scope"] = " ".join(query.get("scope", [])).split()
            user = self.state.identity_tokens.get(query.get("refresh_token", [""])[0])
            if user is None:
                return self._reply(401, {"Content-Type": "application/json"}, b'{"details":"bad token"}')
        elif header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if (self.state.users or {}).get(user) != password:
                return self._reply(401, {"Content-Type": "application/json"}, b'{"details":"bad credentials"}')
        scopes = tuple(query.get("scope", []))
        with self.state.lock:
            self.state.token_requests.append({"user": user, "scopes": scopes, "service": query.get("service")})
        if user is None:
            return self._reply(401, {"Content-Type": "application/json"}, b'{"details":"login required"}')
        token = secrets.token_hex(16)
        valid_for = self.state.token_valid_for or self.state.token_lifetime
        grant = TokenGrant(token, user, scopes, time.monotonic() + valid_for)
        with self.state.lock:
            self.state.grants[token] = grant
        document = {"token": token, "expires_in": self.state.token_lifetime}
        self._reply(200, {"Content-Type": "application/json"}, json.dumps(document).encode())

    def _authorised(self, path: str) -> bool:
        match = _REPO_PATH.match(path)
        if path in ("/v2/", "/v2") or match is None:
            return True
        name, action = match.group("name"), _needed_action(self.command)
        wanted = f"repository:{name}:{'pull,push' if action == 'push' else action}"
        header = self.headers.get("Authorization", "")
        grant = self.state.grants.get(header[7:]) if header.startswith("Bearer ") else None
        if grant is not None and grant.expires_at > time.monotonic():
            for scope in grant.scopes:
                _, granted_name, actions = scope.split(":", 2)
                if granted_name == name and (action in actions.split(",") or actions == "*"):
                    return True
        challenge = f'Bearer realm="http://{self.state.host}/token",service="test-registry",scope="{wanted}"'
        error = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        self._reply(401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, json.dumps(error).encode())
        return False

    # -- paging and forwarding -------------------------------------------------------------
    def _upstream(self, method: str, target: str, headers: dict[str, str], body: bytes | None):
        conn = http.client.HTTPConnection(self.state.upstream, timeout=30)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _paged_tags(self, name: str, parts) -> None:
        status, headers, body = self._upstream("GET", f"/v2/{name}/tags/list", {}, None)
        if status != 200:
            return self._reply(status, {"Content-Type": "application/json"}, body)
        tags = sorted(json.loads(body).get("tags") or [])
        query = urllib.parse.parse_qs(parts.query)
        size = int(query.get("n", [self.state.page_size])[0])
        last = query.get("last", [None])[0]
        if last is not None:
            tags = [t for t in tags if t > last]
        page, more = tags[:size], len(tags) > size
        reply_headers = {"Content-Type": "application/json"}
        if more:
            next_query = urllib.parse.urlencode({"n": size, "last": page[-1]})
            reply_headers["Link"] = f'</v2/{name}/tags/list?{next_query}>; rel="next"'
        self._reply(200, reply_headers, json.dumps({"name": name, "tags": page}).encode())

    def _forward(self, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        send_body = body if self.command in ("PUT", "POST", "PATCH") else None
        status, upstream_headers, data = self._upstream(self.command, self.path, headers, send_body)
        reply = {}
        for name, value in upstream_headers:
            if name.lower() in _HOP_HEADERS:
                continue
            if name.lower() == "location":  # the host the client asked (a proxy in front keeps its own)
                value = value.replace(self.state.upstream, self.headers.get("Host") or self.state.host)
            reply[name] = value
        if self.command == "HEAD":
            self.send_response(status)
            for name, value in reply.items():
                self.send_header(name, value)
            self.send_header("Content-Length", dict((k.lower(), v) for k, v in upstream_headers).get("content-length", "0"))
            self.end_headers()
            return
        self._reply(status, reply, data)


class RegistryProxy:
    """``with RegistryProxy(registry.host, users={...}) as proxy:`` — serves on ``proxy.host``."""

    def __init__(
        self,
        upstream: str,
        *,
        users: dict[str, str] | None = None,
        token_lifetime: float = 60.0,
        page_size: int | None = None,
        identity_tokens: dict[str, str] | None = None,
        token_valid_for: float | None = None,
    ) -> None:
        """``token_lifetime`` is the ``expires_in`` tokens are issued with; ``token_valid_for``
        (when set) how long the proxy really accepts them, so a token can expire while the client
        still holds it."""
        self.state = ProxyState(
            upstream=upstream,
            users=users,
            token_lifetime=token_lifetime,
            page_size=page_size,
            identity_tokens=dict(identity_tokens or {}),
            token_valid_for=token_valid_for,
        )
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.state.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return self.state.host

    def repo(self, name: str) -> str:
        return f"{self.host}/{name}"

    @property
    def token_requests(self) -> list[dict]:
        return self.state.token_requests

    def inject(
        self,
        path_pattern: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        *,
        after: int = 0,
    ) -> None:
        """Answer a request whose path matches ``path_pattern`` with this response, once,
        after letting ``after`` matching requests through."""
        with self.state.lock:
            self.state.injected.append((re.compile(path_pattern), Injected(status, headers or {}, body, after)))

    def __enter__(self) -> RegistryProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
