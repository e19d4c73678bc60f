"""The werf v1.1 storage format: tags, slugs, labels and configs (pure, no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.storage import codec
from schemas.errors import InvalidImageName

SIG = "a" * 56
SIG2 = "0123456789abcdef" * 3 + "01234567"
COMMIT = "c" * 40


# ----------------------------------------------------------------------------- stage tags


def test_stage_tag_is_signature_dash_unix_milliseconds() -> None:
    assert codec.format_stage_tag(SIG, 1700000000123) == f"{SIG}-1700000000123"
    assert codec.parse_stage_tag(f"{SIG}-1700000000123") == codec.StageTag(SIG, 1700000000123)


def test_stage_tag_splits_on_the_first_dash_and_needs_an_integer_rest() -> None:
    assert codec.parse_stage_tag(f"{SIG}-12-rejected") is None
    assert codec.parse_stage_tag(f"{SIG}-abc") is None
    assert codec.parse_stage_tag(f"{SIG}-") is None
    assert codec.parse_stage_tag(SIG) is None
    assert codec.parse_stage_tag(f"{SIG}-1.5") is None


def test_tag_with_integer_rest_but_no_signature_is_not_a_stage() -> None:
    assert codec.parse_stage_tag("v1-2") is None
    assert codec.parse_stage_tag(f"{SIG.upper()}-2") is None
    assert codec.parse_stage_tag(f"{SIG}a-2") is None


def test_format_stage_tag_refuses_a_malformed_signature() -> None:
    with pytest.raises(ValueError, match="56 lower-case hex"):
        codec.format_stage_tag("abc", 1)


@settings(deadline=None)  # a loaded CI machine must not fail a pure function on time
@given(st.text(alphabet="0123456789abcdef", min_size=56, max_size=56), st.integers(0, 2**62))
def test_stage_tags_round_trip(signature: str, unique_id: int) -> None:
    tag = codec.format_stage_tag(signature, unique_id)
    assert codec.parse_stage_tag(tag) == codec.StageTag(signature, unique_id)
    assert codec.classify_tag(tag) is codec.RecordKind.STAGE


def test_rejected_marker_names_its_stage() -> None:
    marker = codec.rejected_marker_tag(SIG, 42)
    assert marker == f"{SIG}-42-rejected"
    assert codec.parse_rejected_marker_tag(marker) == codec.StageTag(SIG, 42)
    assert codec.StageTag(SIG, 42).rejected_tag == marker
    assert codec.classify_tag(marker) is codec.RecordKind.REJECTED_MARKER
    assert codec.parse_rejected_marker_tag(f"{SIG}-x-rejected") is None


# ----------------------------------------------------------------------------- slugs and names


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("app", "app"),
        ("backend/api", "backend__slash__api"),
        ("c++", "c__plus____plus__"),
        ("", "__nameless__"),
        ("~", "__nameless__"),
        (None, "__nameless__"),
    ],
)
def test_slug_replaces_slash_plus_and_names_the_nameless_image(name, slug) -> None:
    assert codec.slug_image_name(name) == slug
    assert codec.unslug_image_name(slug) == codec.normalize_image_name(name)


def test_upper_case_image_name_is_refused_with_a_clear_message() -> None:
    with pytest.raises(InvalidImageName, match="upper-case") as caught:
        codec.validate_image_name("Backend")
    assert "'backend'" in str(caught.value)
    with pytest.raises(InvalidImageName):
        codec.managed_image_tag("App")


@pytest.mark.parametrize("name", ["a b", "app:1", "/app", "a//b", "é"])
def test_image_name_with_characters_a_tag_cannot_hold_is_refused(name: str) -> None:
    with pytest.raises(InvalidImageName, match="invalid image name"):
        codec.validate_image_name(name)


def test_nameless_image_is_displayed_as_tilde() -> None:
    assert codec.display_image_name("") == "~"
    assert codec.display_image_name("app") == "app"


# ----------------------------------------------------------------------------- service records


def test_managed_image_record_tags() -> None:
    assert codec.managed_image_tag("backend/api") == "managed-image-backend__slash__api"
    assert codec.managed_image_tag("~") == "managed-image-__nameless__"
    assert codec.parse_managed_image_tag("managed-image-backend__slash__api") == "backend/api"
    assert codec.parse_managed_image_tag("managed-image-__nameless__") == ""
    assert codec.parse_managed_image_tag("managed-image-") is None
    assert codec.classify_tag("managed-image-app") is codec.RecordKind.MANAGED_IMAGE


def test_metadata_tag_binds_image_and_commit() -> None:
    tag = codec.metadata_tag("backend/api", COMMIT)
    assert tag == f"image-metadata-by-commit-backend__slash__api-{COMMIT}"
    assert codec.parse_metadata_tag(tag) == codec.MetadataTag("backend/api", COMMIT)
    assert codec.metadata_commit(tag) == COMMIT
    assert codec.classify_tag(tag) is codec.RecordKind.IMAGE_METADATA


def test_metadata_tag_of_a_dashed_name_keeps_the_commit_as_last_field() -> None:
    tag = codec.metadata_tag("my-app", COMMIT)
    assert codec.parse_metadata_tag(tag) == codec.MetadataTag("my-app", COMMIT)
    assert codec.parse_metadata_tag(tag, ["my"]) is None
    assert codec.parse_metadata_tag(tag, ["my-app"]) == codec.MetadataTag("my-app", COMMIT)


def test_metadata_tag_over_128_chars_shortens_the_name_and_keeps_the_commit() -> None:
    name = "very-long-" * 12  # 120 chars
    tag = codec.metadata_tag(name, COMMIT)
    assert len(tag) == 128
    assert tag.endswith(f"-{COMMIT}")
    name_part = tag[len("image-metadata-by-commit-") : -len(COMMIT) - 1]
    assert "-" not in name_part
    assert name.replace("-", "_").startswith(name_part)
    assert codec.parse_metadata_tag(tag, [name]) == codec.MetadataTag(name, COMMIT)
    assert codec.parse_metadata_tag(tag, ["other"]) is None


def test_metadata_tag_at_exactly_128_chars_is_not_shortened() -> None:
    room = 128 - len("image-metadata-by-commit-") - 1 - len(COMMIT)
    name = "a-" * (room // 2) + "a" * (room % 2)
    tag = codec.metadata_tag(name, COMMIT)
    assert len(tag) == 128 and "a-a" in tag


def test_metadata_tag_that_does_not_rebuild_is_rejected() -> None:
    # "Backend" is not a valid name, so no (name, commit) pair produces this tag
    assert codec.parse_metadata_tag(f"image-metadata-by-commit-Backend-{COMMIT}") is None
    assert codec.parse_metadata_tag("image-metadata-by-commit-nocommit") is None
    assert codec.classify_tag("image-metadata-by-commit-nocommit") is codec.RecordKind.UNKNOWN


def test_metadata_tag_needs_a_commit_without_dashes() -> None:
    with pytest.raises(ValueError):
        codec.metadata_tag("app", "a-b")


@settings(deadline=None)
@given(
    st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,20}(/[a-z0-9][a-z0-9._+-]{0,10})?)?", fullmatch=True),
    st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
)
def test_metadata_tags_round_trip(name: str, commit: str) -> None:
    tag = codec.metadata_tag(name, commit)
    assert len(tag) <= 128
    assert codec.parse_metadata_tag(tag, [name]) == codec.MetadataTag(name, commit)


def test_client_id_records_are_recognised() -> None:
    tag = codec.client_id_tag("0a1b", 1700000000000)
    assert tag == "client-id-0a1b-1700000000000"
    assert codec.is_client_id_tag(tag)
    assert codec.classify_tag(tag) is codec.RecordKind.CLIENT_ID


def test_unrelated_tags_are_unknown() -> None:
    for tag in ["latest", "v1.0", "managed-imagex", f"{SIG}"]:
        assert codec.classify_tag(tag) is codec.RecordKind.UNKNOWN


# ----------------------------------------------------------------------------- labels


def test_stage_labels() -> None:
    labels = codec.stage_labels(
        "acme", SIG, "reg/acme/stages:x", content_signature=SIG2, imports={"base": "sha256:1", "tools": "sha256:2"}
    )
    assert labels == {
        "werf": "acme",
        "werf-stage-signature": SIG,
        "werf-image": "false",
        "werf-cache-version": "1.1",
        "werf-docker-image-name": "reg/acme/stages:x",
        "werf-stage-content-signature": SIG2,
        "werf-import-base": "sha256:1",
        "werf-import-tools": "sha256:2",
    }
    assert codec.import_ids(labels) == ["sha256:1", "sha256:2"]


def test_end_image_labels() -> None:
    assert codec.end_image_labels("app", "main", SIG2, "reg/acme/app:main") == {
        "werf-image": "true",
        "werf-image-name": "app",
        "werf-image-tag": "main",
        "werf-content-signature": SIG2,
        "werf-tag-strategy": "git-branch",
        "werf-docker-image-name": "reg/acme/app:main",
        "werf-image-version": "1",
    }
    assert codec.end_image_labels("~", "v1", SIG2, "reg/acme:v1", "git-tag")["werf-image-name"] == ""


def test_metadata_and_managed_image_labels() -> None:
    assert codec.metadata_labels("acme", SIG2) == {"werf": "acme", "ContentSignature": SIG2}
    assert codec.managed_image_labels("acme") == {"werf": "acme"}


@pytest.mark.parametrize(
    ("labels", "mode", "name", "expected"),
    [
        ({"werf-image": "true", "werf-image-name": "app"}, "multirepo", "app", True),
        ({"werf-image": "true", "werf-image-name": "other"}, "multirepo", "app", True),
        ({"werf-image": "false"}, "multirepo", "app", False),
        ({}, "multirepo", "app", False),
        (None, "monorepo", "app", False),
        ({"werf-image": "true", "werf-image-name": "app"}, "monorepo", "app", True),
        ({"werf-image": "true", "werf-image-name": "app-api"}, "monorepo", "app", False),
        ({"werf-image": "true", "werf-image-name": ""}, "monorepo", "", True),
        ({"werf-image": "true"}, "monorepo", "~", True),
        ({"werf-image": "true", "werf-image-name": "app"}, "monorepo", "", False),
    ],
)
def test_werf_image_check(labels, mode, name, expected) -> None:
    assert codec.is_werf_image(labels, mode, name) is expected


# ----------------------------------------------------------------------------- images repo naming


@pytest.mark.parametrize(
    ("mode", "name", "expected"),
    [
        ("multirepo", "app", ("r/acme/app", "main")),
        ("multirepo", "backend/api", ("r/acme/backend/api", "main")),
        ("multirepo", "", ("r/acme", "main")),
        ("monorepo", "app", ("r/acme", "app-main")),
        ("monorepo", "~", ("r/acme", "main")),
    ],
)
def test_images_repo_location(mode, name, expected) -> None:
    assert codec.images_repo_location("r/acme", mode, name, "main") == expected


def test_monorepo_refuses_a_name_that_cannot_be_part_of_a_tag() -> None:
    with pytest.raises(InvalidImageName, match="monorepo"):
        codec.images_repo_location("r/acme", "monorepo", "backend/api", "main")


def test_unknown_images_repo_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        codec.images_repo_location("r/acme", "splitrepo", "app", "main")


# ----------------------------------------------------------------------------- configs


def test_image_config_holds_labels_created_and_parent() -> None:
    created = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    config_bytes = codec.image_config({"werf": "acme"}, created, parent="sha256:" + "1" * 64)
    config = json.loads(config_bytes)
    assert config["created"] == "2024-05-01T10:00:00.123456Z"
    assert config["rootfs"] == {"diff_ids": [], "type": "layers"}
    assert codec.config_labels(config) == {"werf": "acme"}
    assert codec.parent_id(config) == "sha256:" + "1" * 64
    assert codec.created_at(config) == created
    assert codec.image_id(config_bytes) == codec.digest_of(config_bytes)
    assert codec.image_id(config_bytes).startswith("sha256:")


def test_parent_and_created_are_none_when_absent() -> None:
    assert codec.parent_id({"config": {}}) is None
    assert codec.parent_id({}) is None
    assert codec.created_at({}) is None
    assert codec.config_labels({"config": {"Labels": None}}) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02T03:04:05.1Z", datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)),
        ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_created_parses_go_rfc3339_nano(text: str, expected: datetime) -> None:
    assert codec.parse_created(text) == expected


def test_created_is_formatted_like_go_rfc3339_nano() -> None:
    assert codec.format_created(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert codec.format_created(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert codec.format_created(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"
    with pytest.raises(ValueError, match="timezone"):
        codec.format_created(datetime(2024, 1, 1))


def test_records_written_in_the_same_instant_still_differ() -> None:
    labels = codec.metadata_labels("acme", SIG2)
    configs = {codec.image_config(labels, codec.unique_now_ns()) for _ in range(1000)}
    assert len(configs) == 1000


def test_manifest_only_image_has_no_layers() -> None:
    config = codec.image_config({"werf": "acme"}, 0)
    manifest = json.loads(codec.image_manifest(config, codec.DOCKER_MEDIA_TYPES))
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["layers"] == []
    assert manifest["config"] == {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": len(config),
        "digest": codec.image_id(config),
    }
