"""The werf 1.2 / 2.x record codec (SPEC §13.2): tags, slugs, MurmurHash3 ids, labels, configs.

Where expected values come from:
* ``WERF_SLUG_TEST`` — werf v2.77.1 ``pkg/slug/slug_test.go`` (``TestSlug``, ``TestDockerTag``): the
  hashes in those slugs are werf's ``LegacyMurmurHash`` of the input, so they double as meta ids.
* ``murmur3_x86_32`` below — MurmurHash3 x86 32-bit written here from the published algorithm,
  checked against the SMHasher-reference vectors ``""`` → 0, ``"hello"`` → 0x248bfa47 and
  ``"The quick brown fox jumps over the lazy dog"`` → 0x2e4ff723 (seed 0).
* ``GO_CONFIG`` — the bytes Go's ``encoding/json`` prints for go-containerregistry v0.19.1's
  ``v1.ConfigFile`` filled as werf's ``NewManifestOnlyImage`` fills it (printed once by a scratch
  Go program against those types; nothing of it is in this repository).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime

import mmh3
import pytest

from adapters.storage import werf2_codec as w2
from adapters.storage import werf2_labels as labels_mod
from adapters.storage import werf2_slug as slug
from adapters.storage.werf2_codec import StageID, Werf2RecordKind
from schemas.errors import InvalidImageName

D = "0123456789abcdef" * 3 + "01234567"  # 56 lower-case hex
D2 = "f" * 56
TS = 1611836746968
SID = f"{D}-{TS}"
COMMIT = "c0ffee" + "0" * 34


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 from the algorithm's description, independent of the mmh3 package."""
    mask = 0xFFFFFFFF
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed
    rounded = len(data) - len(data) % 4
    for i in range(0, rounded, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    k = 0
    tail = data[rounded:]
    for index, byte in enumerate(tail):
        k |= byte << (8 * index)
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


# ----------------------------------------------------------------------------- MurmurHash3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("hello", 0x248BFA47), ("The quick brown fox jumps over the lazy dog", 0x2E4FF723)],
)
def test_reference_murmur_matches_published_vectors(text: str, expected: int) -> None:
    assert murmur3_x86_32(text.encode()) == expected
    assert mmh3.hash(text.encode(), 0, signed=False) == expected


WERF_SLUG_TEST = [  # (input, werf's LegacyMurmurHash of it) from pkg/slug/slug_test.go
    ("A", "54dcf7ce"),
    ("x" * 43, "27e2f02f"),
    ("x" * 129, "8cca70eb"),
    ("-data", "a871d86e"),
    ("da/ta", "afa96f8"),
    ("postgres-feature-31981-change-delivery-date-del-result", "852739dc"),
    ("php_fpm_exporter-monitoring-dev-encrypt-1", "83286e5"),
]


@pytest.mark.parametrize(("text", "expected"), WERF_SLUG_TEST)
def test_murmur_id_is_werfs_legacy_murmur_hash(text: str, expected: str) -> None:
    assert slug.murmur_id(text) == expected
    assert format(murmur3_x86_32(text.encode()), "x") == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A", "54dcf7ce"),  # upper case is a valid werf 2 image name
        ("da/ta", "afa96f8"),  # 7 hex digits: no zero padding
        ("php_fpm_exporter-monitoring-dev-encrypt-1", "83286e5"),
        ("", "0"),  # nameless: MurmurHash3 of no bytes with seed 0 is 0
        ("~", "0"),
        (None, "0"),
        ("backend", format(murmur3_x86_32(b"backend"), "x")),
        ("my app+1", format(murmur3_x86_32(b"my app+1"), "x")),
    ],
)
def test_image_metadata_id_hashes_the_image_name(name: str | None, expected: str) -> None:
    assert slug.image_metadata_id(name) == expected


def test_image_metadata_id_of_a_slugged_name_hashes_what_the_managed_image_id_stands_for() -> None:
    # ".hidden" is not a valid docker tag: werf slugs it and hashes the slug (getImageMetadataID)
    managed = "hidden-" + format(murmur3_x86_32(b".hidden"), "x")
    assert slug.managed_image_id(".hidden") == managed
    assert slug.image_metadata_id(".hidden") == format(murmur3_x86_32(managed.encode()), "x")


def test_names_that_need_transliteration_are_refused() -> None:
    with pytest.raises(InvalidImageName):
        slug.managed_image_id("ünï")
    with pytest.raises(ValueError, match="transliterated"):
        slug.slugify("é")


# ----------------------------------------------------------------------------- werf's LimitedSlug


@pytest.mark.parametrize(
    ("text", "max_size", "expected"),
    [  # pkg/slug/slug_test.go
        ("", 42, ""),
        ("data", 42, "data"),
        ("A", 42, "a-54dcf7ce"),
        ("x" * 43, 42, "x" * 33 + "-27e2f02f"),
        ("postgres-feature-31981-change-delivery-date-del-result", 48, "postgres-feature-31981-change-delivery--852739dc"),
        ("php_fpm_exporter-monitoring-dev-encrypt-1", 48, "php-fpm-exporter-monitoring-dev-encrypt--83286e5"),
        ("-data", 128, "data-a871d86e"),
        ("da/ta", 128, "da-ta-afa96f8"),
        ("x" * 129, 128, "x" * 119 + "-8cca70eb"),
    ],
)
def test_limited_slug_matches_werfs_tests(text: str, max_size: int, expected: str) -> None:
    result = slug.limited_slug(text, max_size)
    assert result == expected
    assert len(result) <= max_size
    assert slug.limited_slug(result, max_size) == result  # idempotent, as werf's test checks


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Hello, World!", "hello-world"), ("--a__b--", "a-b"), ("a@b#c", "abc"), ("v1.2.3", "v1-2-3"), ("@@", "")],
)
def test_slugify(text: str, expected: str) -> None:
    assert slug.slugify(text) == expected


def test_slug_of_text_without_slug_characters_is_the_hash_alone() -> None:
    assert slug.limited_slug("@@", 48) == slug.murmur_id("@@")


@pytest.mark.parametrize(
    ("tag", "valid"),
    [
        ("", True),
        ("v1", True),
        ("V1_x.y-z", True),
        ("_a", True),
        (".a", False),
        ("-a", False),
        ("a/b", False),
        ("a" * 128, True),
        ("a" * 129, False),
        ("é", False),
    ],
)
def test_valid_docker_tag(tag: str, valid: bool) -> None:
    assert slug.is_valid_docker_tag(tag) is valid


# ----------------------------------------------------------------------------- stage IDs


@pytest.mark.parametrize(
    ("tag", "stage"),
    [(SID, StageID(D, TS)), (D, StageID(D, 0)), (f"{D2}-9999999999999", StageID(D2, 9999999999999))],
)
def test_stage_id_round_trips(tag: str, stage: StageID) -> None:
    assert w2.parse_stage_id(tag) == stage
    assert stage.tag == tag == str(stage)
    assert w2.format_stage_id(stage.digest, stage.creation_ts) == tag
    assert stage.is_multiplatform is (stage.creation_ts == 0)


@pytest.mark.parametrize(
    "tag",
    [
        f"{D}-{TS}0",  # 71 chars
        f"{D}-{TS // 10}",  # 69 chars
        f"{D}a-{TS // 10}",  # 70 chars, one '-', but a 57-char digest
        f"{D.upper()}-{TS}",  # upper-case hex
        D.upper(),
        f"{'g' * 56}-{TS}",  # not hex
        "g" * 56,
        D[:55],
        f"{D}-0{str(TS)[1:]}",  # leading zero
        f"{D}-+{str(TS)[1:]}",  # sign
        f"{D}-{TS}-rejected",
        f"{D[:-2]}-a-{TS}",
        "a" * 27 + "-" + "b" * 28,  # 56 chars with a dash
        "",
    ],
)
def test_not_stage_ids(tag: str) -> None:
    assert w2.parse_stage_id(tag) is None


@pytest.mark.parametrize(("digest", "ts"), [(D.upper(), TS), (D[:-1], TS), (D, 123), (D, -TS), (D, 10**13)])
def test_stage_id_refuses_bad_parts(digest: str, ts: int) -> None:
    with pytest.raises(ValueError):
        StageID(digest, ts)


@pytest.mark.parametrize(
    ("tag", "stage"),
    [(f"{SID}-rejected", StageID(D, TS)), (f"{D}-0-rejected", StageID(D, 0))],  # werf prints %d: -0- for multi-platform
)
def test_rejected_marker_round_trips(tag: str, stage: StageID) -> None:
    assert w2.parse_rejected_marker_tag(tag) == stage
    assert w2.rejected_marker_tag(stage) == stage.rejected_tag == tag


@pytest.mark.parametrize(
    "tag",
    [f"{D}-rejected", f"{D}-00-rejected", f"{D.upper()}-{TS}-rejected", f"{D}-{TS // 10}-rejected", f"{SID}-rejected-x", SID],
)
def test_not_rejected_markers(tag: str) -> None:
    assert w2.parse_rejected_marker_tag(tag) is None


# ----------------------------------------------------------------------------- managed images


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("backend", "managed-image-backend"),
        ("Backend", "managed-image-Backend"),  # werf 2 keeps upper case
        ("a b/c+d", "managed-image-a__space__b__slash__c__plus__d"),
        ("", "managed-image-__nameless__"),
        ("~", "managed-image-__nameless__"),
        ("__nameless__", "managed-image-__nameless__"),
        (None, "managed-image-__nameless__"),
        ("app.v2_x-y", "managed-image-app.v2_x-y"),
    ],
)
def test_managed_image_tag_round_trips(name: str | None, tag: str) -> None:
    assert w2.managed_image_tag(name) == tag
    assert w2.parse_managed_image_tag(tag) == slug.normalize_image_name(name)


def test_managed_image_tag_of_a_long_name_is_slugged_to_fit() -> None:
    tag = w2.managed_image_tag("n" * 200)
    assert len(tag) == 128
    assert tag == "managed-image-" + "n" * (114 - 9) + "-" + slug.murmur_id("n" * 200)


@pytest.mark.parametrize("tag", ["managed-image-", "managed-imagex", "latest"])
def test_not_managed_image_tags(tag: str) -> None:
    assert w2.parse_managed_image_tag(tag) is None


# ----------------------------------------------------------------------------- image metadata


def test_meta_tag_round_trips() -> None:
    tag = w2.meta_tag("da/ta", COMMIT, SID)
    assert tag == f"meta-afa96f8_{COMMIT}_{SID}"
    meta = w2.parse_meta_tag(tag)
    assert meta == w2.MetaTag("afa96f8", COMMIT, StageID(D, TS))
    assert meta.tag == tag
    assert meta.is_of("da/ta") and not meta.is_of("data")
    assert w2.meta_tag(None, COMMIT, StageID(D, 0)) == f"meta-0_{COMMIT}_{D}"


@pytest.mark.parametrize(
    "tag",
    [
        f"meta-afa96f8_{COMMIT}",  # 2 fields
        f"meta-afa96f8_{COMMIT}_{SID}_x",  # 4 fields
        f"meta-AFA96F8_{COMMIT}_{SID}",  # upper-case id
        f"meta-0afa96f8_{COMMIT}_{SID}",  # zero padded
        f"meta-123456789_{COMMIT}_{SID}",  # more than a uint32
        f"meta-afa96f8_{COMMIT.upper()}_{SID}",
        f"meta-afa96f8_{COMMIT[:-1]}_{SID}",
        f"meta-afa96f8_{COMMIT}_{SID[:-1]}",
        f"meta-afa96f8_{COMMIT}_{D.upper()}",
        f"meta-_{COMMIT}_{SID}",
        f"image-metadata-by-commit-x-{COMMIT}",
    ],
)
def test_not_meta_tags(tag: str) -> None:
    assert w2.parse_meta_tag(tag) is None
    assert w2.classify_tag(tag) is Werf2RecordKind.FOREIGN


def test_meta_tag_accepts_sha256_commits() -> None:
    commit = "ab" * 32
    assert w2.parse_meta_tag(w2.meta_tag("x", commit, SID)).commit == commit


@pytest.mark.parametrize(("image_id", "commit", "stage"), [("0a", COMMIT, SID), ("a", "xyz", SID), ("a", COMMIT, "nope")])
def test_meta_tag_refuses_bad_parts(image_id: str, commit: str, stage: str) -> None:
    with pytest.raises(ValueError):
        w2.meta_tag_by_id(image_id, commit, stage)


# ----------------------------------------------------------------------------- custom tags, imports


@pytest.mark.parametrize(
    ("custom_tag", "record"),
    [
        ("main", "custom-tag-meta-main"),
        ("v1.0", "custom-tag-meta-v1-0-" + slug.murmur_id("v1.0")),
        ("Release_2", "custom-tag-meta-release-2-" + slug.murmur_id("Release_2")),
        ("a" * 60, "custom-tag-meta-" + "a" * (48 - 1 - len(slug.murmur_id("a" * 60))) + "-" + slug.murmur_id("a" * 60)),
    ],
)
def test_custom_tag_metadata_tag(custom_tag: str, record: str) -> None:
    assert w2.custom_tag_metadata_tag(custom_tag) == record
    assert w2.parse_custom_tag_metadata_tag(record) == record.removeprefix("custom-tag-meta-")
    assert len(w2.parse_custom_tag_metadata_tag(record)) <= 48


@pytest.mark.parametrize("custom_tag", ["", "-x", "a/b", "x" * 129])
def test_custom_tag_must_be_a_docker_tag(custom_tag: str) -> None:
    with pytest.raises(ValueError):
        w2.custom_tag_metadata_tag(custom_tag)


def test_custom_tag_metadata_labels() -> None:
    record = w2.custom_tag_metadata_tag("v1.0")
    good = {"werf": "proj", "stage-id": SID, "tag": "v1.0"}
    assert labels_mod.custom_tag_metadata_from_labels(record, good) == labels_mod.CustomTagMetadata(
        "v1.0", StageID(D, TS), "proj"
    )
    assert labels_mod.custom_tag_metadata_from_labels(record, {**good, "tag": "v1.1"}) is None  # names another record
    assert labels_mod.custom_tag_metadata_from_labels(record, {**good, "stage-id": "x"}) is None
    assert labels_mod.custom_tag_metadata_from_labels(record, {"stage-id": SID, "tag": "v1.0"}) is None
    assert labels_mod.custom_tag_metadata_from_labels("latest", good) is None


ISID = "ab" * 32


@pytest.mark.parametrize(
    ("extra", "stage", "image_id"),
    [({"source-stage-id": SID}, StageID(D, TS), None), ({"source-image-id": "sha256:" + "e" * 64}, None, "sha256:" + "e" * 64)],
    ids=["v2", "v1.2"],
)
def test_import_metadata_labels(extra: dict[str, str], stage: StageID | None, image_id: str | None) -> None:
    tag = w2.import_metadata_tag(ISID)
    assert tag == f"import-metadata-{ISID}"
    assert w2.parse_import_metadata_tag(tag) == ISID
    meta = labels_mod.import_metadata_from_labels(tag, {"werf": "p", "import-source-id": ISID, "checksum": "sum", **extra})
    assert meta == labels_mod.ImportMetadata(ISID, "sum", "p", stage, image_id)


@pytest.mark.parametrize(
    "lab",
    [
        {"werf": "p", "import-source-id": "other", "checksum": "s", "source-stage-id": SID},
        {"werf": "p", "import-source-id": ISID, "source-stage-id": SID},
        {"werf": "p", "import-source-id": ISID, "checksum": "s"},
        {"import-source-id": ISID, "checksum": "s", "source-stage-id": SID},
    ],
)
def test_import_metadata_with_incomplete_labels_is_not_a_record(lab: dict[str, str]) -> None:
    assert labels_mod.import_metadata_from_labels(f"import-metadata-{ISID}", lab) is None
    assert labels_mod.classify_record(f"import-metadata-{ISID}", lab) is Werf2RecordKind.FOREIGN


# ----------------------------------------------------------------------------- service records, classifier


def test_client_id_tags() -> None:
    assert w2.client_id_tag("a-b-c", 1700000000000) == "client-id-a-b-c-1700000000000"
    assert w2.parse_client_id_tag("client-id-a-b-c-1700000000000") == w2.ClientIDTag("a-b-c", 1700000000000)
    assert w2.parse_client_id_tag("client-id-abc") is None
    assert w2.classify_tag("client-id-abc") is Werf2RecordKind.CLIENT_ID  # still never deleted


@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        (SID, Werf2RecordKind.STAGE),
        (D, Werf2RecordKind.MULTIPLATFORM_STAGE),
        (f"{SID}-rejected", Werf2RecordKind.REJECTED_MARKER),
        (f"{D}-0-rejected", Werf2RecordKind.REJECTED_MARKER),
        ("managed-image-__nameless__", Werf2RecordKind.MANAGED_IMAGE),
        (f"meta-afa96f8_{COMMIT}_{SID}", Werf2RecordKind.IMAGE_METADATA),
        ("custom-tag-meta-main", Werf2RecordKind.CUSTOM_TAG_METADATA),
        (f"import-metadata-{ISID}", Werf2RecordKind.IMPORT_METADATA),
        ("cleanup", Werf2RecordKind.CLEANUP),
        ("client-id-x-1", Werf2RecordKind.CLIENT_ID),
        ("sync-server", Werf2RecordKind.SYNC_SERVER),
        ("latest", Werf2RecordKind.FOREIGN),
        ("main", Werf2RecordKind.FOREIGN),  # a custom tag is known only through its metadata
        ("cleanup-old", Werf2RecordKind.FOREIGN),
        ("managed-image-", Werf2RecordKind.FOREIGN),
        ("custom-tag-meta-", Werf2RecordKind.FOREIGN),
        ("import-metadata-", Werf2RecordKind.FOREIGN),
        (f"image-metadata-by-commit-app-{COMMIT}", Werf2RecordKind.FOREIGN),
        (f"{D}-rejected", Werf2RecordKind.FOREIGN),
    ],
)
def test_classify_tag(tag: str, kind: Werf2RecordKind) -> None:
    assert w2.classify_tag(tag) is kind
    assert (kind in w2.NEVER_DELETED) is (
        kind in {Werf2RecordKind.FOREIGN, Werf2RecordKind.CLEANUP, Werf2RecordKind.CLIENT_ID, Werf2RecordKind.SYNC_SERVER}
    )


@pytest.mark.parametrize(
    ("tag", "lab", "project", "kind"),
    [
        (SID, {"werf": "p"}, "p", Werf2RecordKind.STAGE),
        (SID, {"werf": "other"}, "p", Werf2RecordKind.FOREIGN),  # another project's stage
        (SID, {}, None, Werf2RecordKind.FOREIGN),  # a stage-shaped tag werf did not write
        ("managed-image-app", {"werf": "p"}, None, Werf2RecordKind.MANAGED_IMAGE),
        ("managed-image-app", {}, None, Werf2RecordKind.FOREIGN),
        ("cleanup", {"werf": "p", "lastcleanuptimestamp": "1700000000000"}, "p", Werf2RecordKind.CLEANUP),
        ("cleanup", {"werf": "p", "lastcleanuptimestamp": "soon"}, "p", Werf2RecordKind.FOREIGN),
        ("custom-tag-meta-main", {"werf": "p", "stage-id": SID, "tag": "main"}, "p", Werf2RecordKind.CUSTOM_TAG_METADATA),
        ("custom-tag-meta-main", {"werf": "p", "stage-id": SID, "tag": "dev"}, "p", Werf2RecordKind.FOREIGN),
        ("sync-server", {}, "p", Werf2RecordKind.SYNC_SERVER),
        ("latest", {"werf": "p"}, "p", Werf2RecordKind.FOREIGN),
    ],
)
def test_classify_record_with_labels(tag: str, lab: dict[str, str], project: str | None, kind: Werf2RecordKind) -> None:
    assert labels_mod.classify_record(tag, lab, project) is kind


def test_classify_record_without_labels_is_by_tag() -> None:
    assert labels_mod.classify_record(SID) is Werf2RecordKind.STAGE


# ----------------------------------------------------------------------------- stage labels


def _config(lab: dict[str, str], image: str | None = None) -> dict:
    inner: dict = {"Labels": lab}
    if image:
        inner["Image"] = image
    return {"created": "2024-01-02T03:04:05.5Z", "config": inner}


def test_read_v2_stage() -> None:
    dep = StageID(D2, TS)
    lab = {
        "werf": "p",
        "werf-stage-content-digest": "cd",
        "werf.io/parent-stage-id": SID,
        "werf.io/base-image-id": "sha256:" + "1" * 64,
        "werf-import-checksum-imp1": "sum1",
        "werf-import-source-stage-id-imp1": f"{D2}-{TS}",
        "werf-import-source-stage-id-imp2": "external-image-alpine",
        labels_mod.dependency_label(dep): dep.tag,
    }
    stage = labels_mod.read_stage(_config(lab))
    assert stage.project == "p" and stage.content_digest == "cd"
    assert stage.parent_stage_id == StageID(D, TS)
    assert stage.parent_image_id == "sha256:" + "1" * 64
    assert stage.import_checksums == {"imp1": "sum1"}
    assert stage.import_source_stages() == [StageID(D2, TS)]  # external images are not stages
    assert stage.dependency_stages() == [dep]
    assert stage.created == datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)


def test_read_v12_stage_parent_by_config_image_first() -> None:
    lab = {"werf": "p", "werf-cache-version": "1.2", "werf.io/base-image-id": "sha256:" + "2" * 64}
    stage = labels_mod.read_stage(_config(lab, image="sha256:" + "3" * 64))
    assert stage.parent_image_id == "sha256:" + "3" * 64
    assert stage.parent_stage_id is None and stage.cache_version == "1.2"
    assert labels_mod.read_stage(_config(lab)).parent_image_id == "sha256:" + "2" * 64


def test_dependency_label_is_sha256_of_the_stage_id() -> None:
    assert labels_mod.dependency_label(SID) == "werf-dependency-stage-id-" + hashlib.sha256(SID.encode()).hexdigest()


# ----------------------------------------------------------------------------- records stagesweep writes

CREATED_NS = int(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp()) * 10**9 + 123456700
GO_CONFIG = (
    b'{"architecture":"","created":"2024-05-06T07:08:09.1234567Z","history":[{"created":"0001-01-01T00:00:00Z"}],'
    b'"os":"","rootfs":{"type":"layers","diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]},'
    b'"config":{"Labels":{"lastcleanuptimestamp":"1715000000000","werf":"my-proj","x\\u003c\\u0026\\u003e":"\xc3\xbc\\u2028"}}}'
)


def test_manifest_only_config_is_byte_identical_to_go() -> None:
    lab = {"werf": "my-proj", "lastcleanuptimestamp": "1715000000000", "x<&>": "ü\u2028"}
    assert labels_mod.manifest_only_config(lab, CREATED_NS) == GO_CONFIG


def test_cleanup_record() -> None:
    record = labels_mod.cleanup_record("my-proj", 1715000000000, CREATED_NS)
    assert record.tag == "cleanup"
    assert record.labels == {"werf": "my-proj", "lastcleanuptimestamp": "1715000000000"}
    assert json.loads(record.config)["config"] == {"Labels": record.labels}
    assert labels_mod.classify_record(record.tag, record.labels, "my-proj") is Werf2RecordKind.CLEANUP
    assert labels_mod.cleanup_timestamp_ms(record.labels) == 1715000000000


def test_managed_image_record_has_one_empty_tar_layer() -> None:
    record = labels_mod.managed_image_record("my-proj", "a/b", CREATED_NS)
    assert record.tag == "managed-image-a__slash__b"
    config = json.loads(record.config)
    assert config["config"] == {"Labels": {"werf": "my-proj"}}
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(bytes(1024)).hexdigest()]}
    assert config["history"] == [{"created": "0001-01-01T00:00:00Z"}]
    manifest = json.loads(record.manifest)
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"] == {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": len(record.config),
        "digest": record.config_digest,
    }
    assert manifest["layers"] == [
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 39, "digest": labels_mod.EMPTY_LAYER_DIGEST}
    ]
    assert gzip.decompress(record.layer) == bytes(1024)
    assert labels_mod.layer_is_empty_tar(record.layer) and not labels_mod.layer_is_empty_tar(b"junk")
    # created = now makes each write its own manifest
    assert labels_mod.managed_image_record("my-proj", "a/b", CREATED_NS + 1).manifest_digest != record.manifest_digest
