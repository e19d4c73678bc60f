"""The ``gcr`` implementation (Container Registry / Artifact Registry) against a fake of Google's
Registry API (tests/fixtures/vendor_gcr.py) in front of the real registry: a tag is deleted
alone, then its manifest once no tag names it; Google's refusal to delete a still-tagged manifest
is no failure; the pre-flight names Google's permission; Google's tags/list ``manifest`` object
gives every tag's digest in pages."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from adapters.cache import ContentCache
from adapters.registry import RegistryClient
from adapters.registry.vendors import registry_client
from adapters.registry.vendors.gcr import GcrDeleter, host_permission
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import IMPLEMENTATIONS, RepoImplementation
from schemas.vocab import Outcome
from tests.adapters.registry.vendors.helpers import manifest_exists, on_registry, publish, vendor_client

pytestmark = pytest.mark.registry

PERMISSION = IMPLEMENTATIONS[RepoImplementation.GCR].permission


def deletes(fake) -> list[tuple[str, int]]:
    """(reference, status) of each DELETE the fake answered (the token flow's challenges left out)."""
    return [(path.rsplit("/manifests/", 1)[-1], status) for _, path, status, _ in fake.requests("DELETE") if status != 401]


def client_for(registry, fake, tmp_path: Path, user: str | None = None, **options) -> RegistryClient:
    return vendor_client(registry, fake, tmp_path, "gcr", user, **options)


def test_deleting_a_tag_removes_the_tag_then_its_manifest_and_nothing_else(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    backend = RegistryBackend(client_for(registry, gcr_fake, tmp_path))

    results = backend.delete(gcr_fake.repo(unique_repo), [[("a", digests["a"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("a", "deleted")]
    assert on_registry(registry, unique_repo) == {"b": digests["b"]}
    assert not manifest_exists(registry, unique_repo, digests["a"])  # its storage went too
    # Google was asked for the tag first, then for the manifest it left untagged
    assert deletes(gcr_fake) == [("a", 202), (digests["a"], 202)]


def test_a_tag_sharing_its_digest_with_a_staying_tag_is_deleted_alone(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["old", "other"], siblings={"production": "old"})
    backend = RegistryBackend(client_for(registry, gcr_fake, tmp_path))

    results = backend.delete(gcr_fake.repo(unique_repo), [[("old", digests["old"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("old", "deleted")]
    assert on_registry(registry, unique_repo) == {"production": digests["old"], "other": digests["other"]}
    # the manifest the staying tag names was not even asked for
    assert deletes(gcr_fake) == [("old", 202)]


@pytest.mark.parametrize("dangling_status", [400, 409])
def test_googles_refusal_to_delete_a_still_tagged_manifest_leaves_it_to_the_last_tag(
    gcr_fake, registry, unique_repo, tmp_path, dangling_status
):
    gcr_fake.dangling_status = dangling_status
    digests = publish(registry, unique_repo, ["a"], siblings={"b": "a"})
    repo = gcr_fake.repo(unique_repo)
    with client_for(registry, gcr_fake, tmp_path) as client:
        # both tags are being deleted (neither stays): the first leaves the manifest to the second
        assert client.deleter.delete_tag(repo, "a", digests["a"], False) == Outcome.DELETED
        assert manifest_exists(registry, unique_repo, digests["a"])
        assert client.deleter.delete_tag(repo, "b", digests["b"], False) == Outcome.DELETED

    assert on_registry(registry, unique_repo) == {}
    assert not manifest_exists(registry, unique_repo, digests["a"])
    assert deletes(gcr_fake) == [("a", 202), (digests["a"], dangling_status), ("b", 202), (digests["a"], 202)]


def test_a_plan_deleting_every_tag_of_a_digest_deletes_them_and_the_manifest(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "keep"], siblings={"b": "a", "c": "a"})
    backend = RegistryBackend(client_for(registry, gcr_fake, tmp_path))

    results = backend.delete(gcr_fake.repo(unique_repo), [[(t, digests[t]) for t in ("a", "b", "c")]], None)

    assert {(r.tag, r.outcome) for r in results[0]} == {("a", "deleted"), ("b", "deleted"), ("c", "deleted")}
    assert on_registry(registry, unique_repo) == {"keep": digests["keep"]}
    assert not manifest_exists(registry, unique_repo, digests["a"])


def test_a_tag_already_gone_is_already_gone(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a"])
    gcr_fake.disk.untag(unique_repo, "a")
    with client_for(registry, gcr_fake, tmp_path) as client:
        assert client.deleter.delete_tag(gcr_fake.repo(unique_repo), "a", digests["a"], False) == Outcome.ALREADY_GONE


def test_preflight_passes_with_a_service_account_json_key(gcr_fake, registry, unique_repo, tmp_path):
    publish(registry, unique_repo, ["a"])
    email = "deployer@stagesweep-test.iam.gserviceaccount.com"
    gcr_fake.add_service_account(email)
    config = json.loads((Path(gcr_fake.write_docker_config(tmp_path / "docker", email)) / "config.json").read_text())
    assert base64.b64decode(config["auths"][gcr_fake.host]["auth"]).decode().startswith("_json_key:{")

    with client_for(registry, gcr_fake, tmp_path, email) as client:
        client.deleter.preflight(gcr_fake.repo(unique_repo))

    assert [(ref, status) for ref, status in deletes(gcr_fake)] == [("sha256:" + "0" * 64, 404)]


def test_preflight_without_the_delete_permission_names_implementation_permission_and_login(
    gcr_fake, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["a"])
    reader = "reader@stagesweep-test.iam.gserviceaccount.com"
    gcr_fake.add_account(reader, {"pull"})

    with client_for(registry, gcr_fake, tmp_path, reader) as client, pytest.raises(RegistryAuthError) as caught:
        client.deleter.preflight(gcr_fake.repo(unique_repo))

    error = caught.value
    assert error.status == 403 and error.retryable is False
    text = f"{error.message} {error.hint}"
    assert "gcr implementation" in text
    assert PERMISSION in text  # the table's wording, which the CLI's users see
    assert 'Permission "artifactregistry.repositories.deleteArtifacts" denied' in error.message  # Google's own answer
    assert "DOCKER_CONFIG" in error.hint and "gcloud" in error.hint
    assert on_registry(registry, unique_repo) == {"a": digests["a"]}
    assert [ref for ref, _ in deletes(gcr_fake)] == ["sha256:" + "0" * 64]


@pytest.mark.parametrize("login", ["wrong-token", "no-credentials"])
def test_preflight_with_bad_or_missing_credentials_names_implementation_permission_and_login(
    gcr_fake, registry, unique_repo, tmp_path, login
):
    digests = publish(registry, unique_repo, ["a"])
    if login == "wrong-token":
        config = tmp_path / "docker"
        config.mkdir()
        auth = base64.b64encode(b"oauth2accesstoken:ya29.not-a-token").decode()
        (config / "config.json").write_text(json.dumps({"auths": {gcr_fake.host: {"auth": auth}}}))
    else:
        config = tmp_path / "empty"
        config.mkdir()

    with registry_client(registry.options(docker_config=str(config), implementation="gcr")) as client:
        with pytest.raises(RegistryAuthError) as caught:
            client.deleter.preflight(gcr_fake.repo(unique_repo))

    error = caught.value
    assert error.status == 401
    assert "gcr implementation" in error.message and PERMISSION in error.message
    assert "DOCKER_CONFIG" in error.hint and "oauth2accesstoken" in error.hint and "_json_key" in error.hint
    assert "ya29.not-a-token" not in f"{error.message} {error.hint}"
    assert on_registry(registry, unique_repo) == {"a": digests["a"]}


def test_unsupported_deletes_get_one_clear_message(gcr_fake, registry, unique_repo, tmp_path):
    publish(registry, unique_repo, ["a"])
    gcr_fake.inject(
        lambda method, path: method == "DELETE",
        405,
        body={"errors": [{"code": "UNSUPPORTED", "message": "Unsupported action delete"}]},
        times=2,
    )
    repo = gcr_fake.repo(unique_repo)
    with client_for(registry, gcr_fake, tmp_path) as client:
        with pytest.raises(RegistryError) as preflight:
            client.deleter.preflight(repo)
        with pytest.raises(RegistryError) as delete:
            client.deleter.delete_tag(repo, "a", "sha256:" + "1" * 64, False)

    for error in (preflight.value, delete.value):
        assert error.retryable is False and error.code == "UNSUPPORTED"
        assert "does not take deletes" in error.message and "Unsupported action delete" in error.message
        assert "remote or virtual Artifact Registry repository" in error.hint


def test_a_429_is_a_retryable_error_carrying_retry_after(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    gcr_fake.rate_limit_deletes(retry_after=7)
    backend = RegistryBackend(client_for(registry, gcr_fake, tmp_path))

    (result,) = backend.delete(gcr_fake.repo(unique_repo), [[("a", digests["a"])]], None)[0]

    assert (result.outcome, result.retryable, result.retry_after) == ("failed", True, 7.0)
    assert "TOOMANYREQUESTS" in result.error
    assert on_registry(registry, unique_repo) == digests
    gcr_fake.rate_limit_deletes(retry_after=3)
    with client_for(registry, gcr_fake, tmp_path / "again") as client, pytest.raises(RegistryRateLimited) as caught:
        client.deleter.delete_tag(gcr_fake.repo(unique_repo), "a", digests["a"], False)
    assert caught.value.retry_after == 3.0 and caught.value.retryable


def test_a_server_error_fails_retryably_and_the_same_delete_then_succeeds(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    gcr_fake.fail_deletes(status=503)
    backend = RegistryBackend(client_for(registry, gcr_fake, tmp_path))
    repo = gcr_fake.repo(unique_repo)

    (first,) = backend.delete(repo, [[("a", digests["a"])]], None)[0]
    assert (first.outcome, first.retryable) == ("failed", True)
    assert on_registry(registry, unique_repo) == digests

    (again,) = backend.delete(repo, [[("a", digests["a"])]], None)[0]
    assert again.outcome == "deleted"
    assert on_registry(registry, unique_repo) == {"b": digests["b"]}


def test_a_failed_manifest_delete_after_the_tag_went_still_reports_the_tag_deleted(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"])
    gcr_fake.inject(lambda method, path: method == "DELETE" and digests["a"] in path, 500, body={"errors": [{"code": "UNKNOWN"}]})
    with client_for(registry, gcr_fake, tmp_path) as client:
        assert client.deleter.delete_tag(gcr_fake.repo(unique_repo), "a", digests["a"], False) == Outcome.DELETED
    assert on_registry(registry, unique_repo) == {"b": digests["b"]}


def test_credentials_go_only_to_the_registry_hosts_token_service(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b"], siblings={"c": "b"})
    access_token = gcr_fake.users[gcr_fake.user].secret
    with client_for(registry, gcr_fake, tmp_path) as client:
        repo = gcr_fake.repo(unique_repo)
        client.deleter.preflight(repo)
        RegistryBackend(client).delete(repo, [[("a", digests["a"]), ("b", digests["b"])]], None)
        assert client.deleter.listed_digests(repo) == {"c": digests["b"]}

    sent = [(path, authorization) for _, path, _, authorization in gcr_fake.log if authorization]
    assert sent
    for path, authorization in sent:
        if authorization.startswith("Basic "):
            assert path == "/v2/token"  # the account's access token only to the token service
            assert base64.b64decode(authorization[6:]).decode() == f"oauth2accesstoken:{access_token}"
        else:
            assert authorization.startswith("Bearer ") and access_token not in authorization
            assert authorization[7:] in gcr_fake.tokens  # a registry token the token service issued
    # every request of the client went to the fake's host: the one host those credentials belong to
    assert {path for path, _ in sent} >= {"/v2/token"}


def test_listed_digests_pages_through_googles_manifest_object(gcr_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["t1", "t2", "t3", "t4", "t5"], siblings={"t6": "t1"})
    gcr_fake.max_page = 2
    with client_for(registry, gcr_fake, tmp_path) as client:
        listed = client.deleter.listed_digests(gcr_fake.repo(unique_repo))

    assert listed == digests
    pages = [path for method, path, status, _ in gcr_fake.requests("GET", "/tags/list") if status == 200]
    assert len(pages) == 3


def test_listed_digests_of_an_unknown_repository_is_empty_and_of_a_non_google_listing_none(
    gcr_fake, registry, unique_repo, tmp_path
):
    with client_for(registry, gcr_fake, tmp_path) as client:
        assert client.deleter.listed_digests(gcr_fake.repo(unique_repo + "/none")) == {}
    publish(registry, unique_repo, ["a"])
    gcr_fake.inject(lambda method, path: path.endswith("/tags/list"), 200, body={"name": unique_repo, "tags": ["a"]})
    with client_for(registry, gcr_fake, tmp_path / "plain") as client:
        assert client.deleter.listed_digests(gcr_fake.repo(unique_repo)) is None


def test_a_warm_describe_and_the_staying_tags_look_up_use_the_listing_not_a_head_per_tag(
    gcr_fake, registry, unique_repo, tmp_path
):
    tags = ["t1", "t2", "t3", "t4"]
    digests = publish(registry, unique_repo, tags)
    gcr_fake.max_page = 3
    repo = gcr_fake.repo(unique_repo)
    cache = ContentCache(tmp_path / "cache")
    backend = RegistryBackend(client_for(registry, gcr_fake, tmp_path), cache)
    cold = backend.describe(repo, tags)
    assert {tag: d.digest for tag, d in cold.items()} == digests

    gcr_fake.log.clear()
    warm = backend.describe(repo, tags)
    assert {tag: d.digest for tag, d in warm.items()} == digests
    assert gcr_fake.requests("HEAD") == []
    assert len(gcr_fake.requests("GET", "/tags/list")) == 2  # two pages for four tags

    gcr_fake.log.clear()
    backend.delete(repo, [[("t1", digests["t1"])]], None)
    # the one HEAD is the re-check of the tag being deleted; the staying tags came from the listing
    assert [path.rsplit("/", 1)[-1] for _, path, _, _ in gcr_fake.requests("HEAD")] == ["t1"]


def test_the_hint_names_the_permission_of_the_host(gcr_fake, registry):
    assert "artifactregistry.repositories.deleteArtifacts" in host_permission("europe-west1-docker.pkg.dev")
    assert "storage.objects.delete" in host_permission("eu.gcr.io")
    assert host_permission("127.0.0.1:5000") is None
    with registry_client(registry.options(implementation="gcr")) as client:
        deleter = client.deleter
        assert isinstance(deleter, GcrDeleter)
        assert "artifactregistry.repositories.deleteArtifacts (Artifact Registry)" in deleter.permission_hint("us-docker.pkg.dev")
        assert PERMISSION in deleter.permission_hint("us-docker.pkg.dev")
