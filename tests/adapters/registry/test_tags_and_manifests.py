"""Reading and writing tags, manifests and blobs on a real Distribution registry."""

from __future__ import annotations

import json

import pytest

from adapters.registry import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, RegistryClient, sha256_digest
from schemas.errors import NotFoundError

from .proxy import RegistryProxy

pytestmark = pytest.mark.registry


def push_tags(client: RegistryClient, repo: str, count: int) -> dict[str, str]:
    """Push ``count`` distinct manifest-only images concurrently; tag → manifest digest."""
    tags = [f"t{i:04d}" for i in range(count)]
    digests = client.map_concurrent(
        lambda tag: client.push_manifest_only_image(repo, tag, {"config": {"Labels": {"n": tag}}})[0], tags
    )
    return dict(zip(tags, digests, strict=True))


def test_lists_every_tag_of_a_repository_with_more_than_a_hundred_tags(client, repo) -> None:
    pushed = push_tags(client, repo, 130)
    assert sorted(client.list_tags(repo)) == sorted(pushed)


def test_follows_link_pages_until_the_last_page(client, registry, unique_repo) -> None:
    repo = registry.repo(unique_repo)
    digest, _ = client.push_manifest_only_image(repo, "first", {})
    raw = client.get_manifest(repo, digest).raw
    tags = ["first"] + [f"page-{i:03d}" for i in range(150)]
    client.map_concurrent(lambda tag: client.put_manifest(repo, tag, raw, DOCKER_MANIFEST), tags[1:])
    with RegistryProxy(registry.host, page_size=100) as proxy, RegistryClient(registry.options()) as paged:
        assert sorted(paged.list_tags(proxy.repo(unique_repo))) == sorted(tags)
        assert sorted(paged.list_tags(proxy.repo(unique_repo), page_size=7)) == sorted(tags)


def test_missing_repository_has_no_tags(client, repo) -> None:
    assert client.list_tags(repo) == []


def test_manifest_only_image_round_trips_its_config_labels(client, repo) -> None:
    manifest_digest, config_digest = client.push_manifest_only_image(
        repo, "managed-image-app", {"config": {"Labels": {"werf": "acme"}}}
    )
    manifest = client.get_manifest(repo, "managed-image-app")
    assert manifest.digest == manifest_digest == sha256_digest(manifest.raw)
    assert manifest.media_type == DOCKER_MANIFEST
    assert manifest.config_digest == config_digest
    assert manifest.layer_digests == []
    config = client.get_config(repo, manifest)
    assert config["config"]["Labels"] == {"werf": "acme"}
    assert config["created"].endswith("Z")
    assert client.head_manifest(repo, "managed-image-app") == manifest_digest
    assert client.get_manifest(repo, manifest_digest).raw == manifest.raw


def test_two_manifest_only_images_with_the_same_labels_get_different_digests(client, repo) -> None:
    first, _ = client.push_manifest_only_image(repo, "a", {"config": {"Labels": {"x": "1"}}})
    second, _ = client.push_manifest_only_image(repo, "b", {"config": {"Labels": {"x": "1"}}})
    assert first != second


def test_head_of_a_missing_tag_is_none_and_get_raises_not_found(client, repo) -> None:
    client.push_manifest_only_image(repo, "present", {})
    assert client.head_manifest(repo, "absent") is None
    with pytest.raises(NotFoundError) as caught:
        client.get_manifest(repo, "absent")
    assert caught.value.status == 404
    assert caught.value.code == "MANIFEST_UNKNOWN"
    assert caught.value.url.endswith("/manifests/absent")
    assert "absent" in str(caught.value)


def test_pushing_an_existing_blob_uploads_nothing_and_returns_its_digest(client, repo) -> None:
    data = b'{"hello": "world"}'
    digest = client.push_blob(repo, data)
    assert digest == sha256_digest(data)
    assert client.blob_exists(repo, digest)
    assert client.push_blob(repo, data) == digest
    assert client.get_blob(repo, digest) == data


def test_reads_oci_manifest_and_oci_index_with_their_media_types(client, repo) -> None:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config_digest = client.push_blob(repo, config)
    oci = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
            "layers": [],
        }
    ).encode()
    oci_digest = client.put_manifest(repo, "oci", oci, OCI_MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": oci_digest,
                    "size": len(oci),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    client.put_manifest(repo, "multi", index, OCI_INDEX)
    assert client.get_manifest(repo, "oci").media_type == OCI_MANIFEST
    fetched = client.get_manifest(repo, "multi")
    assert (fetched.media_type, fetched.is_index, fetched.config_digest) == (OCI_INDEX, True, None)
    assert fetched.parsed["manifests"][0]["digest"] == oci_digest


def test_map_concurrent_keeps_item_order_and_raises_the_first_failure(client) -> None:
    assert client.map_concurrent(lambda n: n * n, range(50)) == [n * n for n in range(50)]

    def fail_on_odd(n: int) -> int:
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    with pytest.raises(ValueError, match="odd"):
        client.map_concurrent(fail_on_odd, range(20))
    results = client.map_concurrent(fail_on_odd, range(4), return_exceptions=True)
    assert results[0] == 0 and results[2] == 2
    assert [str(r) for r in (results[1], results[3])] == ["odd 1", "odd 3"]


def test_nested_map_concurrent_runs_inline_instead_of_deadlocking(client) -> None:
    result = client.map_concurrent(lambda n: sum(client.map_concurrent(lambda m: m, range(n))), range(30))
    assert result == [sum(range(n)) for n in range(30)]


def test_manifest_put_that_misses_a_just_uploaded_blob_is_retried_once(registry, unique_repo) -> None:
    unknown = json.dumps({"errors": [{"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown"}]}).encode()
    with RegistryProxy(registry.host) as proxy, RegistryClient(registry.options()) as client:
        proxy.inject("/manifests/v1$", 400, {"Content-Type": "application/json"}, unknown)
        digest, _ = client.push_manifest_only_image(proxy.repo(unique_repo), "v1", {})
        assert client.head_manifest(registry.repo(unique_repo), "v1") == digest
