"""The ``default`` implementation on a registry that deletes tags (distribution-spec 1.1: zot,
Distribution 3 — tests/fixtures/vendor_tagdelete.py) and on a plain Distribution 2 registry: a tag
whose digest a staying tag shares is removed alone where the registry can, and kept
(``shared-digest``) where it deletes by digest only; a digest no staying tag shares goes whole
either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.registry import RegistryClient
from adapters.registry.vendors import registry_client
from adapters.storage.registry_store import RegistryBackend
from schemas.errors import RegistryAuthError
from schemas.vocab import Outcome, Reason
from tests.adapters.registry.vendors.helpers import manifest_exists, on_registry, publish, vendor_client

pytestmark = pytest.mark.registry


def deletes(fake) -> list[tuple[str, int]]:
    return [(path.rsplit("/manifests/", 1)[-1], status) for _, path, status, _ in fake.requests("DELETE") if status != 401]


def client_for(registry, fake, tmp_path: Path) -> RegistryClient:
    return vendor_client(registry, fake, tmp_path, "default")


def test_on_a_tag_deleting_registry_a_tag_sharing_a_staying_digest_is_deleted_alone(
    tagdelete_fake, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["old", "other"], siblings={"production": "old"})
    backend = RegistryBackend(client_for(registry, tagdelete_fake, tmp_path))

    results = backend.delete(tagdelete_fake.repo(unique_repo), [[("old", digests["old"])]], None)

    assert [(r.tag, r.outcome) for r in results[0]] == [("old", "deleted")]
    assert on_registry(registry, unique_repo) == {"production": digests["old"], "other": digests["other"]}
    requested = deletes(tagdelete_fake)
    # one probe tag (unknown: 404 MANIFEST_UNKNOWN tells a tag delete was understood), then the tag
    assert [status for _, status in requested] == [404, 202]
    assert requested[0][0].startswith("stagesweep-probe-") and requested[1] == ("old", 202)


def test_on_plain_distribution_a_tag_sharing_a_staying_digest_is_kept_as_shared_digest(registry, unique_repo):
    digests = publish(registry, unique_repo, ["old", "other"], siblings={"production": "old"})
    backend = RegistryBackend(registry_client(registry.options(implementation="default")))

    results = backend.delete(registry.repo(unique_repo), [[("old", digests["old"])]], None)

    assert [(r.tag, r.outcome, r.reason) for r in results[0]] == [("old", "kept", Reason.SHARED_DIGEST.value)]
    assert "production" in results[0][0].detail
    assert on_registry(registry, unique_repo) == digests


def test_on_a_tag_deleting_registry_a_digest_no_staying_tag_shares_still_goes_whole(
    tagdelete_fake, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["a", "b"], siblings={"a2": "a"})
    backend = RegistryBackend(client_for(registry, tagdelete_fake, tmp_path))

    results = backend.delete(tagdelete_fake.repo(unique_repo), [[("a", digests["a"]), ("a2", digests["a"])]], None)

    outcomes = {r.tag: r.outcome for r in results[0]}
    assert set(outcomes) == {"a", "a2"} and "deleted" in outcomes.values()
    assert set(outcomes.values()) <= {"deleted", "already-gone"}  # one delete took both tags
    assert on_registry(registry, unique_repo) == {"b": digests["b"]}
    assert not manifest_exists(registry, unique_repo, digests["a"])  # the manifest went: storage freed
    assert all(ref.startswith("sha256:") for ref, _ in deletes(tagdelete_fake))  # no tag delete, no probe needed


def test_whether_the_registry_deletes_tags_is_asked_once_per_repository(tagdelete_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["a", "b", "keep-a", "keep-b"], siblings={"c": "keep-a"})
    repo = tagdelete_fake.repo(unique_repo)
    with client_for(registry, tagdelete_fake, tmp_path) as client:
        backend = RegistryBackend(client)
        backend.delete(repo, [[("a", digests["a"])]], None)
        backend.delete(repo, [[("b", digests["b"])]], None)
        results = backend.delete(repo, [[("c", digests["c"])]], None)
        assert client.deleter.deletes_tag_alone(repo)

    assert [(r.tag, r.outcome) for r in results[0]] == [("c", "deleted")]
    assert on_registry(registry, unique_repo) == {"keep-a": digests["keep-a"], "keep-b": digests["keep-b"]}
    assert len([ref for ref, _ in deletes(tagdelete_fake) if ref.startswith("stagesweep-probe-")]) == 1


def test_a_tag_delete_without_the_delete_action_is_refused(tagdelete_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["old"], siblings={"production": "old"})
    repo = tagdelete_fake.repo(unique_repo)
    with client_for(registry, tagdelete_fake, tmp_path) as client:
        assert client.deleter.deletes_tag_alone(repo)
        tagdelete_fake.deny_deletes()
        with pytest.raises(RegistryAuthError):
            client.deleter.preflight(repo)
        with pytest.raises(RegistryAuthError):
            client.deleter.delete_tag(repo, "old", digests["old"], True)
    assert on_registry(registry, unique_repo) == digests


def test_the_tag_delete_of_a_tag_already_gone_is_already_gone(tagdelete_fake, registry, unique_repo, tmp_path):
    digests = publish(registry, unique_repo, ["old"], siblings={"production": "old"})
    repo = tagdelete_fake.repo(unique_repo)
    with client_for(registry, tagdelete_fake, tmp_path) as client:
        assert client.deleter.delete_tag(repo, "old", digests["old"], True) == Outcome.DELETED
        assert client.deleter.delete_tag(repo, "old", digests["old"], True) == Outcome.ALREADY_GONE
    assert on_registry(registry, unique_repo) == {"production": digests["old"]}


def test_a_probe_the_registry_could_not_answer_keeps_the_tag_this_time_and_is_asked_again(
    tagdelete_fake, registry, unique_repo, tmp_path
):
    digests = publish(registry, unique_repo, ["old"], siblings={"production": "old"})
    tagdelete_fake.inject(lambda method, path: "stagesweep-probe-" in path, 503, body={"errors": [{"code": "UNAVAILABLE"}]})
    repo = tagdelete_fake.repo(unique_repo)
    with client_for(registry, tagdelete_fake, tmp_path) as client:
        backend = RegistryBackend(client)
        (first,) = backend.delete(repo, [[("old", digests["old"])]], None)[0]
        assert (first.outcome, first.reason) == ("kept", Reason.SHARED_DIGEST.value)
        assert on_registry(registry, unique_repo) == digests

        (again,) = backend.delete(repo, [[("old", digests["old"])]], None)[0]
        assert again.outcome == "deleted"

    assert on_registry(registry, unique_repo) == {"production": digests["old"]}
    probes = [status for ref, status in deletes(tagdelete_fake) if ref.startswith("stagesweep-probe-")]
    assert probes == [503, 404]
