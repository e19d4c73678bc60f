"""Safe tag deletion (SPEC §12.4): never take a sibling tag that stays along with a digest."""

from __future__ import annotations

import pytest

from adapters.registry import DOCKER_MANIFEST
from schemas.errors import RegistryError, SharedDigestError
from schemas.vocab import Outcome

pytestmark = pytest.mark.registry


def tag_twice(client, repo: str, first: str, second: str) -> str:
    digest, _ = client.push_manifest_only_image(repo, first, {"config": {"Labels": {"tag": first}}})
    client.put_manifest(repo, second, client.get_manifest(repo, digest).raw, DOCKER_MANIFEST)
    return digest


def tag_map(client, repo: str) -> dict[str, str]:
    return {tag: client.head_manifest(repo, tag) for tag in client.list_tags(repo)}


def test_refuses_to_delete_a_digest_shared_with_a_tag_that_stays(client, repo) -> None:
    digest = tag_twice(client, repo, "old", "production")
    with pytest.raises(SharedDigestError) as caught:
        client.delete_tag(repo, "old", digest, tag_map(client, repo), deleting={"old"})
    error = caught.value
    assert "production" in str(error)
    assert error.retryable is False
    assert sorted(client.list_tags(repo)) == ["old", "production"]
    assert client.head_manifest(repo, "production") == digest


def test_deletes_a_shared_digest_when_every_tag_on_it_is_being_deleted(client, repo) -> None:
    digest = tag_twice(client, repo, "a", "b")
    client.push_manifest_only_image(repo, "other", {})
    tags = tag_map(client, repo)
    assert client.delete_tag(repo, "a", digest, tags, deleting={"a", "b"}) == Outcome.DELETED
    assert client.delete_tag(repo, "b", digest, tags, deleting={"a", "b"}) == Outcome.ALREADY_GONE
    assert client.list_tags(repo) == ["other"]


def test_deleting_an_already_gone_tag_is_already_gone(client, repo) -> None:
    digest, _ = client.push_manifest_only_image(repo, "gone", {})
    tags = tag_map(client, repo)
    assert client.delete_tag(repo, "gone", digest, tags, deleting={"gone"}) == Outcome.DELETED
    assert client.delete_tag(repo, "gone", digest, tags, deleting={"gone"}) == Outcome.ALREADY_GONE
    assert client.delete_manifest(repo, digest) == Outcome.ALREADY_GONE
    assert client.list_tags(repo) == []


def test_does_not_delete_a_tag_that_moved_to_another_image(client, repo) -> None:
    planned, _ = client.push_manifest_only_image(repo, "latest", {"config": {"Labels": {"v": "1"}}})
    tags = tag_map(client, repo)
    moved, _ = client.push_manifest_only_image(repo, "latest", {"config": {"Labels": {"v": "2"}}})
    with pytest.raises(RegistryError, match="tag moved") as caught:
        client.delete_tag(repo, "latest", planned, tags, deleting={"latest"})
    assert caught.value.retryable is False
    assert client.head_manifest(repo, "latest") == moved


def test_deletes_many_tags_concurrently_each_with_its_own_outcome(client, repo) -> None:
    pushed = {f"t{i}": client.push_manifest_only_image(repo, f"t{i}", {})[0] for i in range(12)}
    pushed["shared-keep"] = tag_twice(client, repo, "shared-go", "shared-keep")
    pushed["shared-go"] = pushed["shared-keep"]
    deleting = {tag for tag in pushed if tag != "shared-keep"}
    outcomes = client.map_concurrent(
        lambda tag: client.delete_tag(repo, tag, pushed[tag], pushed, deleting),
        sorted(deleting),
        return_exceptions=True,
    )
    by_tag = dict(zip(sorted(deleting), outcomes, strict=True))
    assert isinstance(by_tag.pop("shared-go"), SharedDigestError)
    assert set(by_tag.values()) == {Outcome.DELETED}
    assert sorted(client.list_tags(repo)) == ["shared-go", "shared-keep"]
