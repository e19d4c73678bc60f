"""The images repo in multirepo and monorepo mode, on a registry and on an OCI layout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.storage import open_images_repo
from adapters.storage.publisher import Publisher, at
from schemas.errors import InvalidImageName, StorageError

T0 = at("2024-05-01T10:00:00")
COMMIT = "a" * 40


@pytest.fixture(params=["multirepo", "monorepo"])
def mode(request) -> str:
    return request.param


def publish_world(backend, mode: str):
    stages, images = backend.stages(), backend.images(mode)
    with Publisher(stages, images) as pub:
        app = pub.build("app", built_at=T0, n_stages=2)
        api = pub.build("app-api", built_at=T0 + timedelta(hours=1), n_stages=1)
        nameless = pub.build("~", built_at=T0 + timedelta(hours=2), n_stages=1)
        published = [
            pub.publish(app, "main", COMMIT),
            pub.publish(app, "v1.0", tag_strategy="git-tag"),
            pub.publish(api, "main"),
            pub.publish(nameless, "main"),
        ]
        pub.foreign("app", "latest")  # no werf labels at all
        pub.foreign("app", "app-imposter", {"werf-image": "false", "werf-image-name": "app"})
    return images, {"app": app, "app-api": api, "": nameless}, published


def test_lists_the_werf_tags_of_each_image_and_ignores_foreign_tags(images_backend, mode) -> None:
    images, built, published = publish_world(images_backend, mode)

    rows = images.list_image_tags(["app", "app-api", "~"]).to_pylist()

    got = sorted((r["image_name"], r["repository"], r["tag"]) for r in rows)
    assert got == sorted((p.image_name, p.repository, p.tag) for p in published)
    for row in rows:
        assert row["content_signature"] == built[row["image_name"]].content_signature
        assert row["parent_id"] == built[row["image_name"]].last_image_id
        assert row["created"] == built[row["image_name"]].built_at
        assert row["digest"].startswith("sha256:")


def test_tags_land_where_the_mode_puts_them(images_backend, mode) -> None:
    images, _, published = publish_world(images_backend, mode)
    base = images.address

    where = {(p.image_name, p.tag): p.repository for p in published}

    if mode == "multirepo":
        assert where == {
            ("app", "main"): f"{base}/app",
            ("app", "v1.0"): f"{base}/app",
            ("app-api", "main"): f"{base}/app-api",
            ("", "main"): base,
        }
    else:
        assert where == {
            ("app", "app-main"): base,
            ("app", "app-v1.0"): base,
            ("app-api", "app-api-main"): base,
            ("", "main"): base,
        }


def test_all_tag_digests_include_foreign_tags(images_backend, mode) -> None:
    images, _, _ = publish_world(images_backend, mode)

    digests = images.list_all_tag_digests("app")

    assert {"latest", "app-imposter"} <= set(digests)
    werf_tags = {r["tag"] for r in images.list_image_tags(["app"]).to_pylist()}
    assert werf_tags < set(digests)


def test_end_image_labels_follow_werf(images_backend, mode) -> None:
    images, built, published = publish_world(images_backend, mode)
    repository, tag = published[1].repository, published[1].tag
    labels = images.backend.describe(repository, [tag])[tag].labels

    assert labels["werf-image"] == "true"
    assert labels["werf-image-name"] == "app"
    assert labels["werf-image-tag"] == "v1.0"
    assert labels["werf-tag-strategy"] == "git-tag"
    assert labels["werf-content-signature"] == built["app"].content_signature
    assert labels["werf-docker-image-name"] == f"{repository}:{tag}"
    assert labels["werf-image-version"] == "1"
    assert labels["werf"] == images_backend.project  # inherited from the last stage


def test_deleting_a_werf_tag_keeps_a_foreign_tag_on_the_same_manifest(images_backend, mode) -> None:
    images, _, published = publish_world(images_backend, mode)
    main = published[0]
    digest = images.copy_tag("app", main.tag, "production")
    row = {"repository": main.repository, "tag": main.tag, "digest": digest, "item_type": "image-tag"}

    [result] = images.delete_items([row])

    assert images.list_all_tag_digests("app")["production"] == digest
    if images_backend.kind == "registry":
        assert (result.outcome, result.reason) == ("kept", "shared-digest") and "production" in result.detail
    else:
        assert result.outcome == "deleted"
        assert main.tag not in images.list_all_tag_digests("app")


def test_deleted_tags_disappear_and_a_second_delete_is_already_gone(images_backend, mode) -> None:
    images, _, published = publish_world(images_backend, mode)
    rows = [
        {"repository": r["repository"], "tag": r["tag"], "digest": r["digest"], "item_type": "image-tag"}
        for r in images.list_image_tags(["app", "app-api", ""]).to_pylist()
    ]

    first = images.delete_items(rows, parallel=4)
    second = images.delete_items(rows)

    assert [r.outcome for r in first] == ["deleted"] * len(rows)
    assert [r.outcome for r in second] == ["already-gone"] * len(rows)
    assert images.list_image_tags(["app", "app-api", ""]).num_rows == 0
    assert {"latest", "app-imposter"} <= set(images.list_all_tag_digests("app"))


def test_an_empty_images_repo_lists_nothing(images_backend, mode) -> None:
    images = images_backend.images(mode)
    assert images.list_image_tags(["app", ""]).num_rows == 0
    assert images.list_all_tag_digests("app") == {}


def test_monorepo_refuses_an_image_name_with_a_slash(images_backend) -> None:
    images = images_backend.images("monorepo")
    with pytest.raises(InvalidImageName, match="monorepo"):
        images.list_image_tags(["backend/api"])


def test_images_repo_cannot_be_local() -> None:
    with pytest.raises(StorageError, match=":local"):
        open_images_repo(":local", "acme")


def test_invalid_images_repo_address_names_the_expected_forms() -> None:
    with pytest.raises(StorageError, match=r"HOST\[:PORT\]/PATH"):
        open_images_repo("acme/images", "acme")


def test_oci_multirepo_refuses_an_image_named_like_a_layout_file(tmp_path) -> None:
    images = open_images_repo(f"oci:{tmp_path}", "acme")
    with pytest.raises(StorageError, match="blobs"):
        images.list_image_tags(["blobs"])
