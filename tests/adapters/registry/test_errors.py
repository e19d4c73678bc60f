"""Typed errors: status, registry error code, URL and whether a retry can help."""

from __future__ import annotations

import json
import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.registry import DOCKER_MANIFEST, RegistryClient, RegistryOptions, RegistryRateLimited
from adapters.registry.manifest import image_manifest
from schemas.errors import NotFoundError, RegistryAuthError, RegistryError
from tests.fixtures.registry import free_port

from .proxy import RegistryProxy

pytestmark = pytest.mark.registry

MISSING = "sha256:" + "0" * 64


def test_missing_blob_is_not_found_with_code_and_url(client, repo) -> None:
    client.push_manifest_only_image(repo, "v1", {})
    with pytest.raises(NotFoundError) as caught:
        client.get_blob(repo, MISSING)
    error = caught.value
    assert (error.status, error.code, error.retryable) == (404, "BLOB_UNKNOWN", False)
    assert error.url == f"http://{repo.split('/')[0]}/v2/{repo.split('/', 1)[1]}/blobs/{MISSING}"
    assert f"cannot read blob {repo}@{MISSING}" in str(error)


def test_manifest_naming_an_unknown_blob_is_rejected_with_the_registry_code(client, repo) -> None:
    with pytest.raises(RegistryError) as caught:
        client.put_manifest(repo, "broken", image_manifest(MISSING, 10), DOCKER_MANIFEST)
    error = caught.value
    assert (error.status, error.code, error.retryable) == (400, "MANIFEST_BLOB_UNKNOWN", False)
    assert error.url.endswith("/manifests/broken")


def test_rate_limit_is_retryable_and_carries_retry_after(registry, unique_repo) -> None:
    body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}).encode()
    # max_retry_after=0: the error comes at once (the wait itself is tested below)
    with RegistryProxy(registry.host) as proxy, RegistryClient(registry.options(max_retry_after=0)) as client:
        proxy.inject("/tags/list$", 429, {"Retry-After": "7", "Content-Type": "application/json"}, body)
        with pytest.raises(RegistryRateLimited) as caught:
            client.list_tags(proxy.repo(unique_repo))
    error = caught.value
    assert (error.status, error.code, error.retryable, error.retry_after) == (429, "TOOMANYREQUESTS", True, 7.0)
    assert "slow down" in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.retry_after, again.status, again.url) == (
        RegistryRateLimited,
        7.0,
        429,
        error.url,
    )


def test_server_error_is_retryable_and_denied_is_not(registry, unique_repo) -> None:
    denied = json.dumps({"errors": [{"code": "DENIED", "message": "requested access is denied"}]}).encode()
    with RegistryProxy(registry.host) as proxy, RegistryClient(registry.options()) as client:
        proxy.inject("/manifests/", 503, body=b"upstream unavailable")
        with pytest.raises(RegistryError) as unavailable:
            client.get_manifest(proxy.repo(unique_repo), "v1")
        proxy.inject("/manifests/", 403, {"Content-Type": "application/json"}, denied)
        with pytest.raises(RegistryAuthError) as forbidden:
            client.delete_manifest(proxy.repo(unique_repo), MISSING)
    assert (unavailable.value.status, unavailable.value.retryable) == (503, True)
    assert (forbidden.value.status, forbidden.value.code, forbidden.value.retryable) == (403, "DENIED", False)
    assert pickle.loads(pickle.dumps(forbidden.value)).code == "DENIED"


def test_failed_page_of_a_tag_list_fails_the_listing_instead_of_shrinking_it(client, registry, unique_repo) -> None:
    repo = registry.repo(unique_repo)
    digest, _ = client.push_manifest_only_image(repo, "t0", {})
    raw = client.get_manifest(repo, digest).raw
    client.map_concurrent(lambda i: client.put_manifest(repo, f"t{i}", raw, DOCKER_MANIFEST), range(1, 12))
    with RegistryProxy(registry.host, page_size=5) as proxy:
        proxy.inject("/tags/list$", 500, after=1)
        with pytest.raises(RegistryError) as caught:
            client.list_tags(proxy.repo(unique_repo))
    assert (caught.value.status, caught.value.retryable) == (500, True)


def test_unreachable_registry_is_a_retryable_connection_error() -> None:
    host = f"127.0.0.1:{free_port()}"
    with RegistryClient(RegistryOptions(insecure_registry=True, timeout=5)) as client:
        with pytest.raises(RegistryError) as caught:
            client.list_tags(f"{host}/acme/app")
    error = caught.value
    assert error.retryable is True
    assert error.status is None
    assert "connection refused" in str(error)
    assert error.url == f"http://{host}/v2/acme/app/tags/list"


def test_reconnects_when_the_registry_closed_an_idle_keep_alive_connection() -> None:
    class OneRequestPerConnection(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        connections = 0

        def log_message(self, *args) -> None:
            pass

        def setup(self) -> None:
            type(self).connections += 1
            super().setup()

        def do_GET(self) -> None:
            body = json.dumps({"name": "acme/app", "tags": ["a"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True  # closes without announcing it

    server = ThreadingHTTPServer(("127.0.0.1", 0), OneRequestPerConnection)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        repo = f"127.0.0.1:{server.server_address[1]}/acme/app"
        with RegistryClient(RegistryOptions(insecure_registry=True)) as client:
            assert [client.list_tags(repo) for _ in range(3)] == [["a"]] * 3
        assert OneRequestPerConnection.connections == 3
    finally:
        server.shutdown()
        server.server_close()


def test_rate_limited_read_is_raised_only_after_its_retry_after(registry, unique_repo) -> None:
    """Prefect retries the read: the error comes once the registry's wait has passed."""
    import time

    with RegistryProxy(registry.host) as proxy, RegistryClient(registry.options()) as client:
        proxy.inject("/tags/list$", 429, {"Retry-After": "1"})
        started = time.monotonic()
        with pytest.raises(RegistryRateLimited) as caught:
            client.list_tags(proxy.repo(unique_repo))
        assert time.monotonic() - started >= 1.0
        assert caught.value.retry_after == 1.0
        assert client.list_tags(proxy.repo(unique_repo)) == []  # the retry goes through


def test_retry_after_wait_is_capped_and_a_delete_leaves_the_wait_to_its_batch(registry, unique_repo) -> None:
    import time

    with RegistryProxy(registry.host) as proxy, RegistryClient(registry.options(max_retry_after=0.2)) as client:
        proxy.inject("/manifests/", 429, {"Retry-After": "30"})
        started = time.monotonic()
        with pytest.raises(RegistryRateLimited):
            client.get_manifest(proxy.repo(unique_repo), "v1")
        assert 0.2 <= time.monotonic() - started < 5
        proxy.inject("/manifests/", 429, {"Retry-After": "30"})
        started = time.monotonic()
        with pytest.raises(RegistryRateLimited) as caught:
            client.delete_manifest(proxy.repo(unique_repo), MISSING)
        assert time.monotonic() - started < 0.2 and caught.value.retry_after == 30.0
