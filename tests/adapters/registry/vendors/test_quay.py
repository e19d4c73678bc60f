"""The ``quay`` implementation against a fake of the Quay API v1 (tests/fixtures/vendor_quay.py) on
the registry's own host: with STAGESWEEP_REPO_QUAY_TOKEN every tag goes through the tag API, one
tag alone; without it, the Registry API deletes digests no staying tag shares and the others are
kept; the pre-flight reads ``can_write``; the token goes only to the Quay API."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

import pytest

from adapters.cache import ContentCache
from adapters.registry import RegistryClient
from adapters.registry.vendors import registry_client
from adapters.storage.preflight import check_delete_permitted
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.vocab import Outcome
from tests.adapters.registry.vendors.helpers import Hosts, publish, vendor_client

pytestmark = pytest.mark.registry

TOKEN = "STAGESWEEP_REPO_QUAY_TOKEN"


@pytest.fixture
def quay(quay_fake, monkeypatch):
    """The fake, with its user's OAuth token in STAGESWEEP_REPO_QUAY_TOKEN."""
    monkeypatch.setenv(TOKEN, quay_fake.token)
    return quay_fake


def deletes(fake) -> list[str]:
    return [path for _, path, _, _ in fake.requests("DELETE")]


def client_for(registry, fake, tmp_path: Path, **options) -> RegistryClient:
    return vendor_client(registry, fake, tmp_path, "quay", **options)


def test_deleting_a_tag_removes_only_that_tag_through_the_quay_tag_api(quay, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b", "c"])
    backend = RegistryBackend(client_for(registry, quay, tmp_path))

    results = backend.delete(quay.repo(unique_repo), [[("a", digests["a"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("a", "deleted")]
    assert quay.disk.tags(unique_repo) == {"b": digests["b"], "c": digests["c"]}
    assert deletes(quay) == [f"/api/v1/repository/{unique_repo}/tag/a"]
    backend.close()


def test_with_the_token_a_tag_sharing_its_digest_with_a_staying_tag_is_deleted_alone(quay, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["old"], siblings={"pinned": "old"})
    backend = RegistryBackend(client_for(registry, quay, tmp_path))

    results = backend.delete(quay.repo(unique_repo), [[("old", digests["old"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("old", "deleted")]
    assert quay.disk.tags(unique_repo) == {"pinned": digests["old"]}
    with registry_client(registry.options()) as direct:
        assert direct.get_manifest(registry.repo(unique_repo), "pinned").digest == digests["old"]
    backend.close()


def test_without_the_token_a_shared_tag_is_kept_and_an_unshared_one_goes_by_manifest_delete(
    quay_fake, registry, unique_repo, tmp_path, monkeypatch
):
    monkeypatch.delenv(TOKEN, raising=False)
    digests = publish(registry, unique_repo, ["old", "lone"], siblings={"pinned": "old"})
    backend = RegistryBackend(client_for(registry, quay_fake, tmp_path))

    results = backend.delete(quay_fake.repo(unique_repo), [[("old", digests["old"]), ("lone", digests["lone"])]], None)

    by_tag = {r.tag: r for r in results[0]}
    assert (by_tag["old"].outcome, by_tag["old"].reason) == ("kept", "shared-digest")
    assert by_tag["lone"].outcome == "deleted"
    assert quay_fake.disk.tags(unique_repo) == {"old": digests["old"], "pinned": digests["old"]}
    assert deletes(quay_fake) == [f"/v2/{unique_repo}/manifests/{digests['lone']}"]
    assert not any(path.startswith("/api/") for _, path, _, _ in quay_fake.log)
    backend.close()


def test_a_tag_already_gone_is_already_gone(quay, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    with client_for(registry, quay, tmp_path) as client:
        assert client.deleter.delete_tag(quay.repo(unique_repo), "a", digests["a"], False) == Outcome.DELETED
        assert client.deleter.delete_tag(quay.repo(unique_repo), "a", digests["a"], False) == Outcome.ALREADY_GONE


# -- pre-flight ---------------------------------------------------------------------------------
def test_preflight_passes_with_a_token_that_may_write_and_deletes_nothing(quay, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a"])
    with client_for(registry, quay, tmp_path) as client:
        check_delete_permitted(quay.repo(unique_repo), client.options)
    assert quay.disk.tags(unique_repo) == digests
    assert [(method, path) for method, path, _, _ in quay.log] == [("GET", f"/api/v1/repository/{unique_repo}")]


@pytest.mark.parametrize("why", ["read-only-scope", "read-only-role"])
def test_preflight_refuses_a_token_that_may_not_write_naming_quay_repo_write_and_the_variable(
    quay, registry, unique_repo, tmp_path, monkeypatch, why
):
    digests = publish(registry, unique_repo, ["a"])
    if why == "read-only-scope":
        monkeypatch.setenv(TOKEN, quay.add_oauth_token(quay.user, {"repo:read"}))
    else:
        quay.deny_deletes()
    with client_for(registry, quay, tmp_path) as client, pytest.raises(RegistryAuthError) as caught:
        check_delete_permitted(quay.repo(unique_repo), client.options)
    text = str(caught.value)
    assert "quay implementation" in text and "repo:write" in text and TOKEN in text
    assert "can_write: false" in caught.value.message
    assert quay.disk.tags(unique_repo) == digests and quay.requests("DELETE") == []


def test_preflight_refuses_an_unknown_token_with_quays_error_message(quay, registry, unique_repo, tmp_path, monkeypatch):
    digests = publish(registry, unique_repo, ["a"])
    monkeypatch.setenv(TOKEN, "not-a-token-quay-knows")
    with client_for(registry, quay, tmp_path) as client, pytest.raises(RegistryAuthError) as caught:
        check_delete_permitted(quay.repo(unique_repo), client.options)
    error = caught.value
    assert error.status == 401
    assert "Invalid token" in error.message and TOKEN in error.message and "repo:write" in str(error)
    assert "not-a-token-quay-knows" not in str(error)
    assert quay.disk.tags(unique_repo) == digests


def test_preflight_without_the_token_and_without_delete_rights_names_the_variable_and_repo_write(
    quay_fake, registry, unique_repo, tmp_path, monkeypatch
):
    monkeypatch.delenv(TOKEN, raising=False)
    digests = publish(registry, unique_repo, ["a"])
    quay_fake.deny_deletes()
    with client_for(registry, quay_fake, tmp_path) as client, pytest.raises(RegistryAuthError) as caught:
        check_delete_permitted(quay_fake.repo(unique_repo), client.options)
    text = str(caught.value)
    assert f"{TOKEN} is not set" in text and "repo:write" in text and "quay implementation" in text
    assert quay_fake.disk.tags(unique_repo) == digests


# -- failures -----------------------------------------------------------------------------------
def test_a_429_is_a_retryable_error_carrying_retry_after(quay, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a"])
    quay.rate_limit_deletes(retry_after=9)

    with client_for(registry, quay, tmp_path) as client, pytest.raises(RegistryRateLimited) as caught:
        client.deleter.delete_tag(quay.repo(unique_repo), "a", digests["a"], False)

    assert caught.value.retryable and caught.value.retry_after == 9
    assert "Too many requests" in caught.value.message
    assert quay.disk.tags(unique_repo) == digests


def test_a_5xx_on_a_delete_fails_retryably_and_the_same_delete_then_succeeds(quay, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    quay.fail_deletes(503, times=1)
    backend = RegistryBackend(client_for(registry, quay, tmp_path))

    first = backend.delete(quay.repo(unique_repo), [[("a", digests["a"])]], None)[0][0]
    assert (first.outcome, first.retryable) == ("failed", True)
    assert "a" in quay.disk.tags(unique_repo)

    again = backend.delete(quay.repo(unique_repo), [[("a", digests["a"])]], None)[0][0]
    assert again.outcome == "deleted"
    assert quay.disk.tags(unique_repo) == {"b": digests["b"]}
    backend.close()


# -- where credentials go -----------------------------------------------------------------------
def test_the_token_goes_only_to_the_quay_api_and_the_password_only_to_the_token_service(quay, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"], siblings={"pinned": "a"})
    hosts = Hosts()
    backend = RegistryBackend(client_for(registry, quay, tmp_path, request_slot=hosts))
    backend.client.deleter.preflight(quay.repo(unique_repo))
    backend.delete(quay.repo(unique_repo), [[("a", digests["a"]), ("b", digests["b"])]], None)
    backend.close()

    basic = "Basic " + base64.b64encode(f"{quay.user}:{quay.users[quay.user].secret}".encode()).decode()
    for _, path, _, authorization in quay.log:
        if path.startswith("/api/v1/"):
            assert authorization == f"Bearer {quay.token}"
        elif path.startswith("/token"):
            assert authorization == basic
        else:
            assert authorization is None or authorization[7:] in quay.tokens
    assert any(path.startswith("/api/v1/") for _, path, _, _ in quay.log)
    assert set(hosts.seen) == {quay.host}
    assert set(quay.disk.tags(unique_repo)) == {"pinned"}


# -- listing with digests -----------------------------------------------------------------------
def test_listed_digests_pages_through_the_quay_listing(quay, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b", "c", "d"], siblings={"e": "a"})
    quay.max_limit = 2

    with client_for(registry, quay, tmp_path) as client:
        listed = client.deleter.listed_digests(quay.repo(unique_repo))

    assert listed == digests
    queries = [urllib.parse.parse_qs(path.split("?", 1)[1]) for _, path, _, _ in quay.requests("GET")]
    assert [q["page"] for q in queries] == [["1"], ["2"], ["3"]]
    assert all(q["limit"] == ["100"] and q["onlyActiveTags"] == ["true"] for q in queries)


def test_without_the_token_there_is_no_listing(quay_fake, registry, unique_repo, tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN, raising=False)
    publish(registry, unique_repo, ["a"])
    with client_for(registry, quay_fake, tmp_path) as client:
        assert client.deleter.listed_digests(quay_fake.repo(unique_repo)) is None
    assert quay_fake.log == []


def test_a_warm_describe_takes_digests_from_the_listing_instead_of_a_head_per_tag(quay, registry, unique_repo, tmp_path):
    tags = [f"t{i}" for i in range(6)]
    publish(registry, unique_repo, tags)
    cache = tmp_path / "cache"
    repo = quay.repo(unique_repo)
    with client_for(registry, quay, tmp_path) as client:
        cold = RegistryBackend(client, ContentCache(cache)).describe(repo, tags)
    quay.log.clear()

    with client_for(registry, quay, tmp_path) as client:
        warm = RegistryBackend(client, ContentCache(cache)).describe(repo, tags)

    assert warm == cold and len(warm) == 6
    assert [(method, path.split("?")[0]) for method, path, _, _ in quay.log] == [
        ("GET", f"/api/v1/repository/{unique_repo}/tag/")
    ]


def test_each_tag_is_read_again_right_before_its_delete_and_a_tag_pushed_again_is_not_deleted(
    quay, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["moving", "old", "other"])
    with client_for(registry, quay, tmp_path) as client:
        with pytest.raises(RegistryError) as caught:
            client.deleter.delete_tag(quay.repo(unique_repo), "moving", digests["other"], False)
        assert client.deleter.delete_tag(quay.repo(unique_repo), "old", digests["old"], False) == Outcome.DELETED
    assert caught.value.code == "TAG_MOVED" and caught.value.retryable is False
    assert quay.disk.tags(unique_repo) == {"moving": digests["moving"], "other": digests["other"]}
    asked = [(m, p.split("?")[0].rsplit("/", 2)[-2:], s) for m, p, s, _ in quay.log if p.startswith("/api/")]
    assert asked == [("GET", ["tag", ""], 200), ("GET", ["tag", ""], 200), ("DELETE", ["tag", "old"], 204)]
