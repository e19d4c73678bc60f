"""The ``dockerhub`` implementation against a fake of the Docker Hub API (tests/fixtures/vendor_dockerhub.py)
in front of the real registry: tags go through the Hub's tag delete, one tag at a time, each read
again right before its delete; the pre-flight logs in, reads the repository and proves the
registry grants the delete action (a Repo Read, Write, Delete token); credentials go only to the
token service and the configured API."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from adapters.cache import ContentCache
from adapters.registry import RegistryClient
from adapters.registry.vendors import registry_client
from adapters.storage.preflight import check_delete_permitted
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.vocab import Outcome
from tests.adapters.registry.vendors.helpers import Hosts, publish
from tests.fixtures.vendor_fake import basic_auth, write_docker_auths

pytestmark = pytest.mark.registry

API_URL = "STAGESWEEP_DOCKERHUB_API_URL"


@pytest.fixture
def hub(dockerhub_fake, monkeypatch):
    """The fake, with the API base pointed at it."""
    monkeypatch.setenv(API_URL, dockerhub_fake.api_url)
    return dockerhub_fake


def client_for(registry, fake, tmp_path, *, secret: str | None = None, **options) -> RegistryClient:
    """A dockerhub client logged in (Docker config) as the fake's user."""
    config = docker_config(tmp_path / "docker", {fake.host: (fake.user, secret or fake.users[fake.user].secret)})
    return registry_client(registry.options(docker_config=config, implementation="dockerhub", **options))


def hub_deletes(fake) -> list[str]:
    return [path for method, path, _, _ in fake.requests("DELETE")]


def docker_config(directory: Path, entries: dict[str, tuple[str, str]]) -> str:
    return write_docker_auths(directory, {key: {"auth": basic_auth(user, secret)} for key, (user, secret) in entries.items()})


def test_deleting_a_tag_removes_only_that_tag_through_the_hub_tag_delete(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b", "c"])
    backend = RegistryBackend(client_for(registry, hub, tmp_path))

    results = backend.delete(hub.repo(unique_repo), [[("a", digests["a"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("a", "deleted")]
    assert hub.disk.tags(unique_repo) == {"b": digests["b"], "c": digests["c"]}
    namespace, name = unique_repo.split("/", 1)
    assert hub_deletes(hub) == [f"/hub/v2/repositories/{namespace}/{name}/tags/a/"]
    backend.close()


def test_a_tag_sharing_its_digest_with_a_staying_tag_is_deleted_and_the_staying_tag_keeps_the_image(
    hub, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["old"], siblings={"pinned": "old"})
    backend = RegistryBackend(client_for(registry, hub, tmp_path))

    results = backend.delete(hub.repo(unique_repo), [[("old", digests["old"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("old", "deleted")]
    assert hub.disk.tags(unique_repo) == {"pinned": digests["old"]}
    with registry_client(registry.options()) as direct:
        assert direct.get_manifest(registry.repo(unique_repo), "pinned").digest == digests["old"]
    backend.close()


def test_a_docker_io_repository_uses_the_docker_login_entry_and_namespace_and_repository_from_its_path(
    hub, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["a", "b"])
    user, secret = hub.user, hub.users[hub.user].secret
    config = docker_config(tmp_path / "docker", {"https://index.docker.io/v1/": (user, secret)})

    with registry_client(registry.options(docker_config=config, implementation="dockerhub")) as client:
        outcome = client.deleter.delete_tag(f"docker.io/{unique_repo}", "a", digests["a"], False)

    assert outcome == Outcome.DELETED
    assert set(hub.disk.tags(unique_repo)) == {"b"}
    namespace, name = unique_repo.split("/", 1)
    assert hub_deletes(hub) == [f"/hub/v2/repositories/{namespace}/{name}/tags/a/"]


def test_a_tag_already_gone_is_already_gone(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    with client_for(registry, hub, tmp_path) as client:
        assert client.deleter.delete_tag(hub.repo(unique_repo), "a", digests["a"], False) == Outcome.DELETED
        assert client.deleter.delete_tag(hub.repo(unique_repo), "a", digests["a"], False) == Outcome.ALREADY_GONE


def test_the_registry_api_deletes_no_tagged_manifest_and_nothing_by_tag_so_nothing_goes_that_way(
    hub, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["a"])
    with client_for(registry, hub, tmp_path) as client:
        with pytest.raises(RegistryError) as tagged:
            client.delete_manifest(hub.repo(unique_repo), digests["a"])
        by_tag = client.transport.request(
            "DELETE", hub.host, f"/v2/{unique_repo}/manifests/a", scope=f"repository:{unique_repo}:delete"
        )
    assert tagged.value.status == 403 and by_tag.status == 405
    assert hub.disk.tags(unique_repo) == digests


# -- pre-flight ---------------------------------------------------------------------------------
def test_preflight_passes_for_a_read_write_delete_token_on_documented_routes_and_deletes_nothing(
    hub, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["a"])
    with client_for(registry, hub, tmp_path) as client:
        check_delete_permitted(hub.repo(unique_repo), client.options)
    assert hub.disk.tags(unique_repo) == digests
    hub_paths = [(m, p) for m, p, _, _ in hub.log if p.startswith("/hub/")]
    namespace, name = unique_repo.split("/", 1)
    assert hub_paths == [("POST", "/hub/v2/auth/token"), ("GET", f"/hub/v2/namespaces/{namespace}/repositories/{name}")]
    assert [s for m, p, s, _ in hub.log if m == "DELETE"][-1] == 404  # the probe digest: deletes are granted


@pytest.mark.parametrize("permission", ["read", "write"])
def test_preflight_refuses_a_token_without_the_delete_permission_naming_it_and_deletes_nothing(
    permission, hub, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["a", "b"])
    secret = hub.add_pat_user("ci", permission)  # Repo Read-only / Repo Read & Write
    config = docker_config(tmp_path / "ci", {hub.host: ("ci", secret)})
    with registry_client(registry.options(docker_config=config, implementation="dockerhub")) as client:
        with pytest.raises(RegistryAuthError) as caught:
            check_delete_permitted(hub.repo(unique_repo), client.options)
        with pytest.raises(RegistryAuthError):
            client.deleter.delete_tag(hub.repo(unique_repo), "a", digests["a"], False)
    text = str(caught.value)
    assert "dockerhub implementation" in text and "Read, Write, Delete" in text and "repo:admin" in text
    assert "Docker config" in text and "Nothing was deleted" in text
    assert hub.disk.tags(unique_repo) == digests
    assert not [s for m, _, s, _ in hub.requests("DELETE") if s < 300]


def test_a_tag_pushed_again_after_its_check_is_not_deleted_and_keeps_its_new_image(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["moving", "other"])
    with client_for(registry, hub, tmp_path) as client:
        with pytest.raises(RegistryError) as caught:
            client.deleter.delete_tag(hub.repo(unique_repo), "moving", digests["other"], False)
    assert caught.value.code == "TAG_MOVED" and caught.value.retryable is False
    assert hub.disk.tags(unique_repo) == digests
    assert hub_deletes(hub) == []


def test_preflight_refuses_wrong_credentials_at_the_login(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a"])
    with client_for(registry, hub, tmp_path, secret="not-the-password") as client, pytest.raises(RegistryAuthError) as caught:
        check_delete_permitted(hub.repo(unique_repo), client.options)
    error = caught.value
    assert error.status == 401
    assert "refused the credentials of builder" in error.message and "docker login" in str(error)
    assert "Read, Write, Delete" in str(error) and "not-the-password" not in str(error)
    assert [(method, path, status) for method, path, status, _ in hub.log] == [("POST", "/hub/v2/auth/token", 401)]
    assert hub.disk.tags(unique_repo) == digests


def test_preflight_without_credentials_for_the_host_names_the_docker_config_and_sends_nothing(
    hub, registry, unique_repo, tmp_path
):
    publish(registry, unique_repo, ["a"])
    config = docker_config(tmp_path / "docker", {"elsewhere.example.com": ("someone", "secret-elsewhere")})
    with registry_client(registry.options(docker_config=config, implementation="dockerhub")) as client:
        with pytest.raises(RegistryAuthError) as caught:
            check_delete_permitted(hub.repo(unique_repo), client.options)
    assert "has no credentials for" in caught.value.message and hub.host in caught.value.message
    assert "dockerhub implementation" in str(caught.value) and "DOCKER_CONFIG" in str(caught.value)
    assert hub.log == []


# -- failures -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, (7, 7)),
        ({"X-RateLimit-Limit": "180", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "+30"}, (28, 30)),
        ({"X-Retry-After": "+20"}, (18, 20)),
    ],
    ids=["retry-after", "ratelimit-reset", "legacy-x-retry-after"],
)
def test_a_429_is_a_retryable_error_carrying_the_wait_the_hub_asked_for(hub, registry, unique_repo, tmp_path, headers, expected):
    digests = publish(registry, unique_repo, ["a"])
    now = int(time.time())
    sent = {key: str(now + int(value[1:])) if value.startswith("+") else value for key, value in headers.items()}
    hub.inject(hub.is_tag_delete, 429, headers=sent, body={"detail": "Rate limit exceeded", "error": False})

    with client_for(registry, hub, tmp_path) as client, pytest.raises(RegistryRateLimited) as caught:
        client.deleter.delete_tag(hub.repo(unique_repo), "a", digests["a"], False)

    error = caught.value
    assert error.retryable and expected[0] <= error.retry_after <= expected[1]
    assert "Rate limit exceeded" in error.message
    assert hub.disk.tags(unique_repo) == digests


def test_a_5xx_on_a_delete_fails_retryably_and_the_same_delete_then_succeeds(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    hub.fail_deletes(500, times=1)
    backend = RegistryBackend(client_for(registry, hub, tmp_path))

    first = backend.delete(hub.repo(unique_repo), [[("a", digests["a"])]], None)[0][0]
    assert (first.outcome, first.retryable) == ("failed", True)
    assert "a" in hub.disk.tags(unique_repo)

    again = backend.delete(hub.repo(unique_repo), [[("a", digests["a"])]], None)[0][0]
    assert again.outcome == "deleted"
    assert hub.disk.tags(unique_repo) == {"b": digests["b"]}
    backend.close()


def test_an_expired_hub_token_is_renewed_once_and_the_delete_goes_through(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    with client_for(registry, hub, tmp_path) as client:
        assert client.deleter.delete_tag(hub.repo(unique_repo), "a", digests["a"], False) == Outcome.DELETED
        hub.expire_hub_tokens()
        assert client.deleter.delete_tag(hub.repo(unique_repo), "b", digests["b"], False) == Outcome.DELETED
    statuses = [(method, status) for method, _, status, _ in hub.log]
    assert statuses == [
        ("POST", 200),
        ("GET", 200),
        ("DELETE", 204),
        ("GET", 401),
        ("POST", 200),
        ("GET", 200),
        ("DELETE", 204),
    ]


# -- where credentials go -----------------------------------------------------------------------
def test_credentials_go_only_to_the_token_service_and_the_configured_api(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"], siblings={"pinned": "a"})
    hosts = Hosts()
    backend = RegistryBackend(client_for(registry, hub, tmp_path, request_slot=hosts))
    check_delete_permitted(hub.repo(unique_repo), backend.client.options)
    backend.client.deleter.preflight(hub.repo(unique_repo))
    backend.delete(hub.repo(unique_repo), [[("a", digests["a"]), ("b", digests["b"])]], None)
    backend.close()

    password = hub.users[hub.user].secret
    basic = "Basic " + base64.b64encode(f"{hub.user}:{password}".encode()).decode()
    for _, path, _, authorization in hub.log:
        if path.startswith("/hub/"):  # the Hub API: its own bearer tokens; the login carries the secret in its body
            assert authorization is None if path == "/hub/v2/auth/token" else authorization[7:] in hub.hub_tokens
        elif path.startswith("/token"):  # the registry's token service: the Docker config's password
            assert authorization == basic
        else:  # the Registry API: registry tokens only
            assert authorization is None or authorization[7:] in hub.tokens
    assert set(hosts.seen) == {hub.host, hub.api_url.split("://")[1]}
    assert set(hub.disk.tags(unique_repo)) == {"pinned"}


def test_a_repository_off_docker_hub_sends_nothing_to_the_hub_without_a_configured_api(
    dockerhub_fake, registry, unique_repo, tmp_path, monkeypatch
):
    monkeypatch.delenv(API_URL, raising=False)
    publish(registry, unique_repo, ["a"])
    hosts = Hosts()
    with client_for(registry, dockerhub_fake, tmp_path, request_slot=hosts) as client:
        with pytest.raises(RegistryError) as caught:
            client.deleter.preflight(dockerhub_fake.repo(unique_repo))
        with pytest.raises(RegistryError):
            client.deleter.delete_tag(dockerhub_fake.repo(unique_repo), "a", "sha256:" + "1" * 64, False)
    assert "not on Docker Hub" in caught.value.message and API_URL in str(caught.value)
    assert hosts.seen == [] and dockerhub_fake.log == []


# -- listing with digests -----------------------------------------------------------------------
def test_listed_digests_pages_through_the_hub_listing(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b", "c", "d"], siblings={"e": "a"})
    hub.max_page_size = 2

    with client_for(registry, hub, tmp_path) as client:
        listed = client.deleter.listed_digests(hub.repo(unique_repo))

    assert listed == digests
    pages = [path for method, path, _, _ in hub.requests("GET")]
    namespace, name = unique_repo.split("/", 1)
    assert pages[0] == f"/hub/v2/namespaces/{namespace}/repositories/{name}/tags?page_size=100"
    assert len(pages) == 3


def test_a_next_page_on_another_origin_is_not_followed(hub, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b", "c"])
    hub.max_page_size = 2
    hub.next_base = "http://127.0.0.2:9"
    hosts = Hosts()

    with client_for(registry, hub, tmp_path, request_slot=hosts) as client:
        listed = client.deleter.listed_digests(hub.repo(unique_repo))

    assert listed == {"a": digests["a"], "b": digests["b"]}  # the rest is looked up tag by tag
    assert "127.0.0.2:9" not in hosts.seen


def test_a_warm_describe_takes_digests_from_the_listing_instead_of_a_head_per_tag(hub, registry, unique_repo, tmp_path):
    tags = [f"t{i}" for i in range(6)]
    publish(registry, unique_repo, tags)
    cache = tmp_path / "cache"
    repo = hub.repo(unique_repo)
    with client_for(registry, hub, tmp_path) as client:
        cold = RegistryBackend(client, ContentCache(cache)).describe(repo, tags)
    hub.log.clear()

    with client_for(registry, hub, tmp_path) as client:
        warm = RegistryBackend(client, ContentCache(cache)).describe(repo, tags)

    assert warm == cold and len(warm) == 6
    assert [(method, path.split("?")[0]) for method, path, _, _ in hub.log] == [
        ("POST", "/hub/v2/auth/token"),
        ("GET", f"/hub/v2/namespaces/{unique_repo.split('/', 1)[0]}/repositories/{unique_repo.split('/', 1)[1]}/tags"),
    ]
