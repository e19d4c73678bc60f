"""werf 1.2 / 2.x labels: what stages and records say, and the records stagesweep writes.

Pure functions (no I/O), the label side of :mod:`adapters.storage.werf2_codec` (SPEC §13.2).
Label names and readings follow werf v2.77.1's source:

* ``pkg/image/const.go`` — every label name (v1.2.300's copy for ``source-image-id``,
  ``werf-cache-version`` and ``werf-stage-digest``);
* ``pkg/docker_registry/api.go`` — a stage's parent image id: config ``Image``, else label
  ``werf.io/base-image-id``;
* ``pkg/build/build_phase.go`` — ``werf.io/parent-stage-id`` (a stage ID);
* ``pkg/cleaning/cleanup.go`` — ``protectImportAndDependencySources``: import sources by
  ``werf-import-source-stage-id-<id>`` / ``werf-import-checksum-<id>`` (values starting with
  ``external-image`` are not stages), dependencies by ``werf-dependency-stage-id-<hash>``;
* ``pkg/build/stage/dependencies_utils.go`` — ``<hash>`` is SHA-256 hex of the dependency's stage ID;
* ``pkg/storage/custom_tag_metadata.go``, ``pkg/storage/import_metadata.go`` — record labels;
* ``pkg/storage/repo_stages_storage.go`` — ``AddManagedImage`` and ``PostLastCleanupRecord`` (the
  labels of the two records stagesweep writes);
* ``pkg/docker_registry/api.go`` ``pushImage`` → ``pkg/docker_registry/container_registry_extensions``
  (``manifest_only_image.go``, ``uncompressed_layer.go``) and go-containerregistry v0.19.1's
  ``pkg/v1/config.go`` / ``manifest.go`` — the bytes of a manifest-only record (see
  :func:`manifest_only_config`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from adapters.storage.imageconfig import (
    DOCKER_MEDIA_TYPES,
    config_labels,
    created_at,
    digest_of,
    format_created,
    image_manifest,
    parent_id,
)
from adapters.storage.werf2_codec import (
    CLEANUP_TAG,
    StageID,
    Werf2RecordKind,
    classify_tag,
    custom_tag_metadata_tag,
    managed_image_tag,
    parse_custom_tag_metadata_tag,
    parse_import_metadata_tag,
    parse_stage_id,
)

LABEL_PROJECT = "werf"
LABEL_VERSION = "werf-version"
LABEL_STAGE_CONTENT_DIGEST = "werf-stage-content-digest"
LABEL_PROJECT_REPO_COMMIT = "werf-project-repo-commit"
LABEL_BASE_IMAGE_ID = "werf.io/base-image-id"  # v1.2 and v2 (legacy): parent's image id
LABEL_PARENT_STAGE_ID = "werf.io/parent-stage-id"  # v2: parent's stage ID
LABEL_IMPORT_CHECKSUM_PREFIX = "werf-import-checksum-"
LABEL_IMPORT_SOURCE_STAGE_ID_PREFIX = "werf-import-source-stage-id-"
LABEL_DEPENDENCY_STAGE_ID_PREFIX = "werf-dependency-stage-id-"
IMPORT_SOURCE_EXTERNAL_IMAGE_PREFIX = "external-image"
LABEL_CACHE_VERSION = "werf-cache-version"  # v1.2 stages: "1.2"
LABEL_STAGE_DIGEST = "werf-stage-digest"  # v1.2 stages

LABEL_IMPORT_SOURCE_ID = "import-source-id"
LABEL_IMPORT_SOURCE_STAGE_ID = "source-stage-id"  # v2
LABEL_IMPORT_SOURCE_IMAGE_ID = "source-image-id"  # v1.2: the source stage's image id
LABEL_IMPORT_CHECKSUM = "checksum"
LABEL_CUSTOM_TAG_STAGE_ID = "stage-id"
LABEL_CUSTOM_TAG = "tag"
LABEL_LAST_CLEANUP_TIMESTAMP = "lastcleanuptimestamp"
LABEL_SYNC_SERVER = "syncserver"
LABEL_SYNC_SERVER_TIMESTAMP = "syncservertimestamp"

_INT64_RE = re.compile(r"[+-]?[0-9]{1,19}")


# --------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class StageLabels:
    """What a stage's config says about the stage (SPEC §13.2 "Stage labels read")."""

    project: str | None
    content_digest: str | None
    created: datetime | None
    parent_image_id: str | None  # config Image, else werf.io/base-image-id
    parent_stage_id: StageID | None  # werf.io/parent-stage-id
    import_checksums: dict[str, str] = field(default_factory=dict)  # import id -> checksum
    import_source_stage_ids: dict[str, str] = field(default_factory=dict)  # import id -> stage ID or external-image…
    dependency_stage_ids: dict[str, str] = field(default_factory=dict)  # hash -> stage ID
    cache_version: str | None = None

    def import_source_stages(self) -> list[StageID]:
        """Import sources named directly by stage ID (external images left out), sorted."""
        return sorted({s for s in map(parse_stage_id, self.import_source_stage_ids.values()) if s is not None})

    def dependency_stages(self) -> list[StageID]:
        return sorted({s for s in map(parse_stage_id, self.dependency_stage_ids.values()) if s is not None})


def _with_prefix(labels: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {key[len(prefix) :]: value for key, value in sorted(labels.items()) if key.startswith(prefix) and value}


def read_stage(config: Mapping | None) -> StageLabels:
    """Read a stage's config (a decoded image config, or an index's newest platform's)."""
    labels = config_labels(config)
    parent_stage = labels.get(LABEL_PARENT_STAGE_ID)
    return StageLabels(
        project=labels.get(LABEL_PROJECT) or None,
        content_digest=labels.get(LABEL_STAGE_CONTENT_DIGEST) or None,
        created=created_at(config),
        parent_image_id=parent_id(config) or labels.get(LABEL_BASE_IMAGE_ID) or None,
        parent_stage_id=parse_stage_id(parent_stage) if parent_stage else None,
        import_checksums=_with_prefix(labels, LABEL_IMPORT_CHECKSUM_PREFIX),
        import_source_stage_ids=_with_prefix(labels, LABEL_IMPORT_SOURCE_STAGE_ID_PREFIX),
        dependency_stage_ids=_with_prefix(labels, LABEL_DEPENDENCY_STAGE_ID_PREFIX),
        cache_version=labels.get(LABEL_CACHE_VERSION) or None,
    )


def dependency_label(stage_id: StageID | str) -> str:
    """The label werf sets on a stage depending on ``stage_id``: prefix + SHA-256 hex of the ID."""
    return LABEL_DEPENDENCY_STAGE_ID_PREFIX + hashlib.sha256(str(stage_id).encode()).hexdigest()


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class CustomTagMetadata:
    custom_tag: str
    stage_id: StageID
    project: str


def custom_tag_metadata_from_labels(tag: str, labels: Mapping[str, str]) -> CustomTagMetadata | None:
    """The custom tag and its stage, or None unless the labels are whole and name this record."""
    if parse_custom_tag_metadata_tag(tag) is None:
        return None
    custom_tag = labels.get(LABEL_CUSTOM_TAG, "")
    stage = parse_stage_id(labels.get(LABEL_CUSTOM_TAG_STAGE_ID, ""))
    project = labels.get(LABEL_PROJECT, "")
    if stage is None or not project:
        return None
    try:
        if custom_tag_metadata_tag(custom_tag) != tag:
            return None
    except ValueError:
        return None
    return CustomTagMetadata(custom_tag, stage, project)


@dataclass(frozen=True)
class ImportMetadata:
    """``import-metadata-<id>``: an import's checksum and its source (v2 stage ID / v1.2 image id)."""

    import_source_id: str
    checksum: str
    project: str
    source_stage_id: StageID | None = None
    source_image_id: str | None = None


def import_metadata_from_labels(tag: str, labels: Mapping[str, str]) -> ImportMetadata | None:
    """Decode an import metadata record, or None when its labels are not werf's."""
    source_id = parse_import_metadata_tag(tag)
    checksum = labels.get(LABEL_IMPORT_CHECKSUM, "")
    project = labels.get(LABEL_PROJECT, "")
    if source_id is None or labels.get(LABEL_IMPORT_SOURCE_ID) != source_id or not checksum or not project:
        return None
    stage_text = labels.get(LABEL_IMPORT_SOURCE_STAGE_ID, "")
    stage = parse_stage_id(stage_text) if stage_text else None
    image_id = labels.get(LABEL_IMPORT_SOURCE_IMAGE_ID) or None
    if stage is None and image_id is None:
        return None
    return ImportMetadata(source_id, checksum, project, stage, image_id)


def cleanup_timestamp_ms(labels: Mapping[str, str]) -> int | None:
    """``lastcleanuptimestamp`` of a ``cleanup`` record (Go's ``ParseInt``), or None."""
    value = labels.get(LABEL_LAST_CLEANUP_TIMESTAMP, "")
    if not _INT64_RE.fullmatch(value) or not -(2**63) <= int(value) < 2**63:
        return None
    return int(value)


def classify_record(tag: str, labels: Mapping[str, str] | None = None, project: str | None = None) -> Werf2RecordKind:
    """The record kind of a tag, confirmed by its labels when they are given.

    Without labels this is :func:`werf2_codec.classify_tag`. With labels, a stage or a record werf
    writes with a ``werf`` label must carry it (equal to ``project`` when given), custom tag and
    import metadata must carry labels that make them usable, the ``cleanup`` record a timestamp;
    otherwise the tag is ``FOREIGN`` and so never deleted. Client-id and sync-server records are
    recognised by name alone (no command deletes them).
    """
    kind = classify_tag(tag)
    if labels is None or kind in (Werf2RecordKind.CLIENT_ID, Werf2RecordKind.SYNC_SERVER, Werf2RecordKind.FOREIGN):
        return kind
    owner = labels.get(LABEL_PROJECT)
    if not owner or (project is not None and owner != project):
        return Werf2RecordKind.FOREIGN
    if kind is Werf2RecordKind.CUSTOM_TAG_METADATA and custom_tag_metadata_from_labels(tag, labels) is None:
        return Werf2RecordKind.FOREIGN
    if kind is Werf2RecordKind.IMPORT_METADATA and import_metadata_from_labels(tag, labels) is None:
        return Werf2RecordKind.FOREIGN
    if kind is Werf2RecordKind.CLEANUP and cleanup_timestamp_ms(labels) is None:
        return Werf2RecordKind.FOREIGN
    return kind


# --------------------------------------------------------------------------- records stagesweep writes

#: The one layer of a manifest-only record since werf v2.75.4: an empty tar archive (two 512-byte
#: zero blocks, as Go's ``tar.Writer.Close`` writes), gzip-compressed by go-containerregistry at
#: ``gzip.BestSpeed``. These 39 bytes are Go's ``compress/gzip`` output for that input (produced with
#: Go's standard library); any gzip of the same tar is an equally valid layer.
EMPTY_TAR = bytes(1024)
EMPTY_TAR_DIFF_ID = "sha256:" + hashlib.sha256(EMPTY_TAR).hexdigest()
EMPTY_LAYER_BLOB = bytes.fromhex("1f8b08000000000004ffecc08100000000c2b0fca903f93620eb010000ffff2eafb5ef00040000")
EMPTY_LAYER_DIGEST = digest_of(EMPTY_LAYER_BLOB)
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_GO_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_json(value: object) -> str:
    """Go's ``json.Marshal`` of strings and string maps: sorted keys, raw UTF-8, HTML-safe escapes."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return "".join(_GO_HTML_ESCAPES.get(char, char) for char in text)


def manifest_only_config(labels: Mapping[str, str], created: datetime | int) -> bytes:
    """The config blob werf 2.x writes for a manifest-only record, byte for byte.

    It must contain, in go-containerregistry's field order and Go's JSON encoding:
    ``architecture`` and ``os`` empty strings; ``created`` = the write time (RFC 3339, fraction
    trimmed; werf prints its host's zone offset, stagesweep UTC ``Z``); ``history`` with one empty
    entry (Go's zero time); ``rootfs`` of type ``layers`` with one ``diff_id``, the empty tar's;
    ``config.Labels`` = the record's labels and nothing else (no ``Image``, no env). The manifest
    is a Docker schema-2 manifest with that config and :data:`EMPTY_LAYER_BLOB` as its only layer.
    """
    return (
        '{"architecture":"","created":'
        + _go_json(format_created(created))
        + ',"history":[{"created":"'
        + _GO_ZERO_TIME
        + '"}],"os":"","rootfs":{"type":"layers","diff_ids":['
        + _go_json(EMPTY_TAR_DIFF_ID)
        + ']},"config":{"Labels":'
        + _go_json(dict(labels))
        + "}}"
    ).encode()


@dataclass(frozen=True)
class ManifestOnlyRecord:
    """A record ready to push: ``tag``, manifest, config, and the blob of its one layer."""

    tag: str
    labels: dict[str, str]
    config: bytes
    manifest: bytes
    layer: bytes = EMPTY_LAYER_BLOB

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest)


def manifest_only_record(tag: str, labels: Mapping[str, str], created: datetime | int) -> ManifestOnlyRecord:
    config = manifest_only_config(labels, created)
    manifest = image_manifest(config, DOCKER_MEDIA_TYPES, [(EMPTY_LAYER_DIGEST, len(EMPTY_LAYER_BLOB))])
    return ManifestOnlyRecord(tag, dict(labels), config, manifest)


def managed_image_labels(project: str) -> dict[str, str]:
    return {LABEL_PROJECT: project}


def managed_image_record(project: str, image_name: str | None, created: datetime | int) -> ManifestOnlyRecord:
    """``managed-images add``: ``managed-image-<id>`` with label ``werf=<project>``."""
    return manifest_only_record(managed_image_tag(image_name), managed_image_labels(project), created)


def cleanup_record_labels(project: str, timestamp_ms: int) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_LAST_CLEANUP_TIMESTAMP: str(int(timestamp_ms))}


def cleanup_record(project: str, timestamp_ms: int, created: datetime | int) -> ManifestOnlyRecord:
    """The ``cleanup`` record written after a real cleanup (werf takes ``created`` just after the ms)."""
    return manifest_only_record(CLEANUP_TAG, cleanup_record_labels(project, timestamp_ms), created)


def layer_is_empty_tar(blob: bytes) -> bool:
    """Whether a layer blob decompresses to the empty tar (used to check written records)."""
    try:
        return gzip.decompress(blob) == EMPTY_TAR
    except (OSError, EOFError):
        return False
