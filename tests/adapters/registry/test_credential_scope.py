"""Registry credentials never leave the registry's origin (scheme, host, port).

A tag-list ``Link: rel="next"`` or an upload ``Location`` may name another host; requests
there carry no ``Authorization`` — neither the Basic credentials nor a Bearer token — and a
challenge from there is not answered. The token realm, which the token specification lets
live on another host, still receives the registry's Basic credentials to issue tokens.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.registry import RegistryClient, RegistryOptions
from schemas.errors import RegistryAuthError

USER, PASSWORD = "alice", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "registry-token-0123456789"

Answer = tuple[int, dict[str, str], bytes]


class Stub:
    """A loopback HTTP server that records every request (method, path, headers) and answers
    with ``respond(stub, method, path, headers) -> (status, headers, body)``."""

    def __init__(self, respond: Callable[[Stub, str, str, dict[str, str]], Answer]) -> None:
        self.respond = respond
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                stub.seen.append((self.command, self.path, headers))
                status, reply, body = stub.respond(stub, self.command, self.path, headers)
                self.send_response(status)
                for name, value in reply.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def authorizations(self) -> list[str]:
        return [h["authorization"] for _, _, h in self.seen if "authorization" in h]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def foreign_answer(stub: Stub, method: str, path: str, headers: dict[str, str]) -> Answer:
    """The other host: a last tag-list page, and a finished upload."""
    if method == "GET" and "/tags/list" in path:
        return 200, {"Content-Type": "application/json"}, json.dumps({"name": "app", "tags": ["b"]}).encode()
    if method == "PUT" and path.startswith("/upload/"):
        return 201, {}, b""
    return 404, {}, b""


def registry_answer(scheme: str, foreign: Stub, realm: Callable[[], str]):
    """The registry: wants ``scheme`` auth, pages its tag list onto ``foreign`` and hands out
    upload locations there."""

    def answer(stub: Stub, method: str, path: str, headers: dict[str, str]) -> Answer:
        granted = BASIC if scheme == "basic" else f"Bearer {TOKEN}"
        if path.startswith("/token"):
            if headers.get("authorization") != BASIC:
                return 401, {}, b"{}"
            return 200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN, "expires_in": 300}).encode()
        if headers.get("authorization") != granted:
            challenge = (
                f'Basic realm="{stub.host}"'
                if scheme == "basic"
                else f'Bearer realm="{realm()}",service="stub",scope="repository:acme/app:pull"'
            )
            return 401, {"WWW-Authenticate": challenge}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        if method == "GET" and path.startswith("/v2/acme/app/tags/list"):
            link = f'<http://{foreign.host}/v2/acme/app/tags/list?last=a>; rel="next"'
            body = json.dumps({"name": "acme/app", "tags": ["a"]}).encode()
            return 200, {"Content-Type": "application/json", "Link": link}, body
        if method == "HEAD" and "/blobs/" in path:
            return 404, {}, b""
        if method == "POST" and path.endswith("/blobs/uploads/"):
            return 202, {"Location": f"http://{foreign.host}/upload/1234?_state=abc"}, b""
        return 404, {}, b""

    return answer


@pytest.fixture
def stubs():
    made: list[Stub] = []

    def make(respond) -> Stub:
        made.append(Stub(respond))
        return made[-1]

    yield make
    for stub in made:
        stub.close()


def docker_config(tmp_path, host: str) -> str:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {host: {"auth": BASIC[len("Basic ") :]}}}))
    return str(tmp_path)


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_link_and_upload_location_on_another_host_get_no_credentials(stubs, tmp_path, scheme) -> None:
    foreign = stubs(foreign_answer)
    registry = stubs(registry_answer(scheme, foreign, lambda: f"http://{registry.host}/token"))
    options = RegistryOptions(docker_config=docker_config(tmp_path, registry.host), insecure_registry=True)
    with RegistryClient(options) as client:
        assert client.list_tags(f"{registry.host}/acme/app") == ["a", "b"]
        client.push_blob(f"{registry.host}/acme/app", b"layer")
    assert [(m, p.split("?")[0]) for m, p, _ in foreign.seen] == [
        ("GET", "/v2/acme/app/tags/list"),
        ("PUT", "/upload/1234"),
    ]
    assert foreign.authorizations() == []
    # the registry itself did get them
    assert (BASIC if scheme == "basic" else f"Bearer {TOKEN}") in registry.authorizations()


def test_a_challenge_from_another_host_is_not_answered_with_the_registry_credentials(stubs, tmp_path) -> None:
    def challenging(stub: Stub, method: str, path: str, headers: dict[str, str]) -> Answer:
        return 401, {"WWW-Authenticate": f'Basic realm="{stub.host}"'}, b""

    foreign = stubs(challenging)
    registry = stubs(registry_answer("basic", foreign, lambda: ""))
    options = RegistryOptions(docker_config=docker_config(tmp_path, registry.host), insecure_registry=True)
    with RegistryClient(options) as client:
        with pytest.raises(RegistryAuthError) as caught:
            client.list_tags(f"{registry.host}/acme/app")
    assert caught.value.status == 401
    assert len(foreign.seen) == 1 and foreign.authorizations() == []


def test_same_host_on_another_port_or_scheme_is_another_origin(stubs, tmp_path) -> None:
    from adapters.registry.transport import origin

    assert origin("https://r.example/v2/") == origin("https://R.example:443/x")
    assert origin("http://r.example/v2/") == origin("http://r.example:80/")
    assert origin("https://r.example/v2/") != origin("http://r.example/v2/")
    assert origin("http://127.0.0.1:5000/") != origin("http://127.0.0.1:5001/")


def test_token_realm_on_another_host_gets_basic_credentials_and_never_the_token(stubs, tmp_path) -> None:
    """Per the token specification the realm receives the registry's Basic credentials."""

    def token_service(stub: Stub, method: str, path: str, headers: dict[str, str]) -> Answer:
        if not path.startswith("/token") or headers.get("authorization") != BASIC:
            return 401, {}, b"{}"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        assert query["service"] == ["stub"]
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN, "expires_in": 300}).encode()

    realm = stubs(token_service)
    foreign = stubs(foreign_answer)
    registry = stubs(registry_answer("bearer", foreign, lambda: f"http://{realm.host}/token"))
    options = RegistryOptions(docker_config=docker_config(tmp_path, registry.host), insecure_registry=True)
    with RegistryClient(options) as client:
        assert client.list_tags(f"{registry.host}/acme/app") == ["a", "b"]
    assert realm.authorizations() == [BASIC]
    assert f"Bearer {TOKEN}" in registry.authorizations()
    assert foreign.authorizations() == []
