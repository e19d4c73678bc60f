"""The ``acr`` implementation against a fake of Azure Container Registry (tests/fixtures/vendor_acr.py)
in front of the real registry: a tag whose digest a staying tag shares is untagged through
``/acr/v1``, any other tag goes with its manifest; the pre-flight names ``content/delete``; the
``_tags`` listing gives every tag's digest in pages; credentials stay on the registry's host."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from adapters.cache import ContentCache
from adapters.registry import RegistryClient
from adapters.registry.vendors import registry_client
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError, RegistryRateLimited
from schemas.registry_implementations import IMPLEMENTATIONS, RepoImplementation
from schemas.vocab import Outcome
from tests.adapters.registry.vendors.helpers import manifest_exists, on_registry, publish, vendor_client
from tests.fixtures.vendor_acr import AcrFake

pytestmark = pytest.mark.registry

PERMISSION = IMPLEMENTATIONS[RepoImplementation.ACR].permission


def deletes(fake) -> list[tuple[str, int]]:
    """(path, status) of each DELETE the fake answered (the token flow's challenges left out)."""
    return [(path, status) for _, path, status, _ in fake.requests("DELETE") if status != 401]


def client_for(registry, fake, tmp_path: Path, user: str | None = None, **options) -> RegistryClient:
    return vendor_client(registry, fake, tmp_path, "acr", user, **options)


def test_a_tag_no_staying_tag_shares_goes_with_its_manifest(acr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    backend = RegistryBackend(client_for(registry, acr_fake, tmp_path))

    results = backend.delete(acr_fake.repo(unique_repo), [[("a", digests["a"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("a", "deleted")]
    assert on_registry(registry, unique_repo) == {"b": digests["b"]}
    assert not manifest_exists(registry, unique_repo, digests["a"])  # storage freed
    assert deletes(acr_fake) == [(f"/v2/{unique_repo}/manifests/{digests['a']}", 202)]


def test_a_tag_sharing_its_digest_with_a_staying_tag_is_untagged_alone(acr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["old", "other"], siblings={"production": "old"})
    backend = RegistryBackend(client_for(registry, acr_fake, tmp_path))

    results = backend.delete(acr_fake.repo(unique_repo), [[("old", digests["old"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("old", "deleted")]
    assert on_registry(registry, unique_repo) == {"production": digests["old"], "other": digests["other"]}
    assert deletes(acr_fake) == [(f"/acr/v1/{unique_repo}/_tags/old", 202)]


def test_untagging_a_tag_already_gone_is_already_gone(acr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a"], siblings={"b": "a"})
    acr_fake.disk.untag(unique_repo, "a")
    with client_for(registry, acr_fake, tmp_path) as client:
        assert client.deleter.delete_tag(acr_fake.repo(unique_repo), "a", digests["a"], True) == Outcome.ALREADY_GONE
    assert on_registry(registry, unique_repo) == {"b": digests["a"]}


def test_az_acr_login_identity_token_deletes_through_the_refresh_token_grant(acr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a"], siblings={"b": "a"})
    token = acr_fake.add_refresh_token(acr_fake.user)
    config = acr_fake.write_identity_config(tmp_path / "docker", token)
    repo = acr_fake.repo(unique_repo)
    with registry_client(registry.options(docker_config=config, implementation="acr")) as client:
        client.deleter.preflight(repo)
        assert client.deleter.delete_tag(repo, "a", digests["a"], True) == Outcome.DELETED

    assert on_registry(registry, unique_repo) == {"b": digests["a"]}
    assert ("POST", "/oauth2/token") in {(method, path) for method, path, _, _ in acr_fake.log}
    # the identity token went in the grant's body only, never in a header
    assert all(token not in (authorization or "") for _, _, _, authorization in acr_fake.log)


def test_preflight_without_delete_rights_names_implementation_permission_and_login(acr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a"])
    acr_fake.add_user("puller", grants={"pull"})

    with client_for(registry, acr_fake, tmp_path, "puller") as client, pytest.raises(RegistryAuthError) as caught:
        client.deleter.preflight(acr_fake.repo(unique_repo))

    error = caught.value
    assert error.status == 403
    assert "acr implementation" in error.message and PERMISSION in error.message and "DENIED" in error.message
    assert "AcrDelete" in error.hint and "DOCKER_CONFIG" in error.hint and "az acr login" in error.hint
    assert on_registry(registry, unique_repo) == {"a": digests["a"]}
    assert [path.rsplit("/", 1)[-1] for path, _ in deletes(acr_fake)] == ["sha256:" + "0" * 64]


@pytest.mark.parametrize("login", ["wrong-password", "no-credentials"])
def test_preflight_with_bad_or_missing_credentials_names_implementation_permission_and_login(
    acr_fake, registry, unique_repo, tmp_path, login
):
    digests = publish(registry, unique_repo, ["a"])
    if login == "wrong-password":
        acr_fake.users[acr_fake.user].secret = "not-the-password"
        config = acr_fake.write_docker_config(tmp_path / "docker", acr_fake.user)
        acr_fake.users[acr_fake.user].secret = "the-real-password"
    else:
        (tmp_path / "empty").mkdir()
        config = str(tmp_path / "empty")

    with registry_client(registry.options(docker_config=config, implementation="acr")) as client:
        with pytest.raises(RegistryAuthError) as caught:
            client.deleter.preflight(acr_fake.repo(unique_repo))

    error = caught.value
    assert error.status == 401
    assert "acr implementation" in error.message and PERMISSION in error.message
    assert "DOCKER_CONFIG" in error.hint and "AcrDelete" in error.hint
    assert "not-the-password" not in f"{error.message} {error.hint}"
    assert on_registry(registry, unique_repo) == {"a": digests["a"]}


@pytest.mark.parametrize("shared", [False, True], ids=["manifest-delete", "untag"])
def test_a_429_is_a_retryable_error_carrying_retry_after(acr_fake, registry, unique_repo, tmp_path, shared):
    digests = publish(registry, unique_repo, ["a", "b"], siblings={"keep": "a"} if shared else None)
    acr_fake.rate_limit_deletes(retry_after=9)
    backend = RegistryBackend(client_for(registry, acr_fake, tmp_path))

    (result,) = backend.delete(acr_fake.repo(unique_repo), [[("a", digests["a"])]], None)[0]

    assert (result.outcome, result.retryable, result.retry_after) == ("failed", True, 9.0)
    assert on_registry(registry, unique_repo) == digests
    acr_fake.rate_limit_deletes(retry_after=4)
    with client_for(registry, acr_fake, tmp_path / "again") as client, pytest.raises(RegistryRateLimited) as caught:
        client.deleter.delete_tag(acr_fake.repo(unique_repo), "a", digests["a"], shared)
    assert caught.value.retry_after == 4.0 and caught.value.retryable
    assert "too many requests" in caught.value.message


@pytest.mark.parametrize("shared", [False, True], ids=["manifest-delete", "untag"])
def test_a_server_error_fails_retryably_and_the_same_delete_then_succeeds(acr_fake, registry, unique_repo, tmp_path, shared):
    digests = publish(registry, unique_repo, ["a", "b"], siblings={"keep": "a"} if shared else None)
    acr_fake.fail_deletes(status=500)
    backend = RegistryBackend(client_for(registry, acr_fake, tmp_path))
    repo = acr_fake.repo(unique_repo)

    (first,) = backend.delete(repo, [[("a", digests["a"])]], None)[0]
    assert (first.outcome, first.retryable) == ("failed", True)
    assert on_registry(registry, unique_repo) == digests

    (again,) = backend.delete(repo, [[("a", digests["a"])]], None)[0]
    assert again.outcome == "deleted"
    expected = {tag: digest for tag, digest in digests.items() if tag != "a"}
    assert on_registry(registry, unique_repo) == expected


def test_credentials_go_only_to_the_registry_host(acr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b", "c", "d"], siblings={"e": "a"})
    password = acr_fake.users[acr_fake.user].secret
    acr_fake.max_page = 2
    elsewhere = AcrFake(registry)  # another host the listing's next-page link points at
    try:
        with client_for(registry, acr_fake, tmp_path) as client:
            repo = acr_fake.repo(unique_repo)
            client.deleter.preflight(repo)
            RegistryBackend(client).delete(repo, [[("a", digests["a"]), ("b", digests["b"])]], None)
            assert client.deleter.listed_digests(repo) == {"c": digests["c"], "d": digests["d"], "e": digests["a"]}
            acr_fake.link_base = elsewhere.url
            assert client.deleter.listed_digests(repo) is None  # the other host wants credentials it never gets
        assert elsewhere.log, "the next-page link was not followed"
        assert all(authorization is None for _, _, _, authorization in elsewhere.log)
        assert not any(path.startswith("/oauth2/") for _, path, _, _ in elsewhere.log)
    finally:
        elsewhere.close()

    for _, path, _, authorization in acr_fake.log:
        if authorization is None:
            continue
        if authorization.startswith("Basic "):
            assert path.startswith("/oauth2/token")  # the password only to the token service
            assert base64.b64decode(authorization[6:]).decode() == f"{acr_fake.user}:{password}"
        else:
            assert authorization[7:] in acr_fake.tokens and password not in authorization


def test_listed_digests_pages_through_the_tags_api(acr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["t1", "t2", "t3", "t4", "t5"], siblings={"t6": "t2"})
    acr_fake.max_page = 2
    with client_for(registry, acr_fake, tmp_path) as client:
        assert client.deleter.listed_digests(acr_fake.repo(unique_repo)) == digests
        assert client.deleter.listed_digests(acr_fake.repo(unique_repo + "/none")) == {}

    pages = [path for _, path, status, _ in acr_fake.requests("GET", "/_tags") if status == 200]
    assert len(pages) == 3
    assert all("n=100" in path or "n=2" in path for path in pages)


def test_a_warm_describe_and_the_staying_tags_look_up_use_the_listing_not_a_head_per_tag(
    acr_fake, registry, unique_repo, tmp_path
):
    tags = ["t1", "t2", "t3", "t4"]
    digests = publish(registry, unique_repo, tags)
    repo = acr_fake.repo(unique_repo)
    backend = RegistryBackend(client_for(registry, acr_fake, tmp_path), ContentCache(tmp_path / "cache"))
    assert {tag: d.digest for tag, d in backend.describe(repo, tags).items()} == digests

    acr_fake.log.clear()
    assert {tag: d.digest for tag, d in backend.describe(repo, tags).items()} == digests
    assert acr_fake.requests("HEAD") == []
    assert [status for _, _, status, _ in acr_fake.requests("GET", "/_tags")] == [200]

    acr_fake.log.clear()
    backend.delete(repo, [[("t1", digests["t1"])]], None)
    assert [path.rsplit("/", 1)[-1] for _, path, _, _ in acr_fake.requests("HEAD")] == ["t1"]
