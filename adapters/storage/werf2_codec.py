"""The werf 1.2 / 2.x storage format (one repository, SPEC §13): tags of records and their kinds.

Pure functions only (no I/O), beside v1.1's :mod:`adapters.storage.codec`. Names inside tags
(image-name slugs, werf's ``LimitedSlug``, MurmurHash3 ids) live in
:mod:`adapters.storage.werf2_slug`; labels, the classifier that also reads them
(``classify_record``) and the configs stagesweep writes, in :mod:`adapters.storage.werf2_labels`.

Where SPEC §13.2 is silent this follows werf v2.77.1, read in werf's source:

* ``pkg/storage/repo_stages_storage.go`` — tag constants and formats, ``GetStagesIDs`` (a stage
  tag is 70 characters with exactly one ``-``, or 56 characters for a multi-platform stage),
  ``getDigestAndCreationTsFromRepoStageImageTag``, ``rejectedStageTagRegexp``
  (``<digest>-<creationTs>-rejected``, written with ``%d`` so a multi-platform stage's marker is
  ``<digest>-0-rejected``), ``groupImageMetadataTagsByImageName`` (``meta-`` split on ``_`` into
  exactly 3 fields), ``GetClientIDRecords`` (``client-id-<id>-<ms>`` split on the last ``-``),
  the ``cleanup`` and ``sync-server`` records;
* ``pkg/image/stage.go`` — ``StageID``: creationTs 0 means multi-platform and prints as the digest.

Stricter than werf, on purpose (a tag not recognised here is *foreign*: never deleted): the digest
must be lower-case hex (werf only checks lengths), the creationTs must be 13 digits without a
leading zero or sign, and a meta record's fields must be a ``%x`` id, a hex commit and a stage ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from adapters.storage.werf2_slug import (
    MANAGED_IMAGE_PREFIX,
    custom_tag_id,
    image_metadata_id,
    is_murmur_id,
    is_valid_docker_tag,
    managed_image_id,
    normalize_image_name,
    unslug_image_name,
)

DIGEST_LENGTH = 56
CREATION_TS_DIGITS = 13
STAGE_ID_LENGTH = DIGEST_LENGTH + 1 + CREATION_TS_DIGITS  # 70

META_PREFIX = "meta-"
CUSTOM_TAG_META_PREFIX = "custom-tag-meta-"
IMPORT_METADATA_PREFIX = "import-metadata-"
CLIENT_ID_PREFIX = "client-id-"
SYNC_SERVER_TAG = "sync-server"
CLEANUP_TAG = "cleanup"
REJECTED_SUFFIX = "-rejected"

_DIGEST_RE = re.compile(rf"[0-9a-f]{{{DIGEST_LENGTH}}}")
_CREATION_TS_RE = re.compile(rf"[1-9][0-9]{{{CREATION_TS_DIGITS - 1}}}")
_REJECTED_RE = re.compile(rf"([0-9a-f]{{{DIGEST_LENGTH}}})-(0|[1-9][0-9]{{{CREATION_TS_DIGITS - 1}}})-rejected")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class Werf2RecordKind(StrEnum):
    """What a tag of a werf 1.2 / 2.x repository is."""

    STAGE = "stage"
    MULTIPLATFORM_STAGE = "multiplatform-stage"
    REJECTED_MARKER = "rejected-marker"
    MANAGED_IMAGE = "managed-image"
    IMAGE_METADATA = "image-metadata"
    CUSTOM_TAG_METADATA = "custom-tag-metadata"
    IMPORT_METADATA = "import-metadata"
    CLEANUP = "cleanup"
    CLIENT_ID = "client-id"
    SYNC_SERVER = "sync-server"
    FOREIGN = "foreign"


#: kinds no command deletes (SPEC §13.2, §13.5)
NEVER_DELETED = frozenset(
    {Werf2RecordKind.CLIENT_ID, Werf2RecordKind.SYNC_SERVER, Werf2RecordKind.CLEANUP, Werf2RecordKind.FOREIGN}
)
STAGE_KINDS = frozenset({Werf2RecordKind.STAGE, Werf2RecordKind.MULTIPLATFORM_STAGE})


# --------------------------------------------------------------------------- stage IDs


def is_digest(value: str) -> bool:
    """A stage digest: 56 lower-case hex characters (SHA3-224)."""
    return bool(_DIGEST_RE.fullmatch(value))


@dataclass(frozen=True, order=True)
class StageID:
    """``<digest>-<creationTs>``; creationTs 0 is a multi-platform stage, tagged by the digest."""

    digest: str
    creation_ts: int

    def __post_init__(self) -> None:
        if not is_digest(self.digest):
            raise ValueError(f"stage digest must be {DIGEST_LENGTH} lower-case hex chars, got {self.digest!r}")
        if self.creation_ts != 0 and not _CREATION_TS_RE.fullmatch(str(self.creation_ts)):
            raise ValueError(f"creationTs must be 0 or {CREATION_TS_DIGITS}-digit Unix ms, got {self.creation_ts!r}")

    @property
    def is_multiplatform(self) -> bool:
        return self.creation_ts == 0

    @property
    def tag(self) -> str:
        """The stage ID as werf prints it, which is also the stage's tag."""
        return self.digest if self.is_multiplatform else f"{self.digest}-{self.creation_ts}"

    @property
    def rejected_tag(self) -> str:
        return rejected_marker_tag(self)

    def __str__(self) -> str:
        return self.tag


def format_stage_id(digest: str, creation_ts: int) -> str:
    return StageID(digest, int(creation_ts)).tag


def parse_stage_id(tag: str) -> StageID | None:
    """The stage a tag is, or None: ``<digest>`` (56 chars) or ``<digest>-<13-digit ms>`` (70)."""
    if len(tag) == DIGEST_LENGTH:
        return StageID(tag, 0) if is_digest(tag) else None
    if len(tag) != STAGE_ID_LENGTH or tag[DIGEST_LENGTH] != "-":
        return None
    digest, creation_ts = tag[:DIGEST_LENGTH], tag[DIGEST_LENGTH + 1 :]
    if not is_digest(digest) or not _CREATION_TS_RE.fullmatch(creation_ts):
        return None
    return StageID(digest, int(creation_ts))


def rejected_marker_tag(stage: StageID) -> str:
    """``<digest>-<creationTs>-rejected`` — werf prints creationTs with ``%d``, 0 included."""
    return f"{stage.digest}-{stage.creation_ts}{REJECTED_SUFFIX}"


def parse_rejected_marker_tag(tag: str) -> StageID | None:
    """The stage a rejected marker rejects, or None."""
    match = _REJECTED_RE.fullmatch(tag)
    return StageID(match[1], int(match[2])) if match else None


# --------------------------------------------------------------------------- managed images


def managed_image_tag(name: str | None) -> str:
    """``managed-image-<id>`` of an image name (``None``, ``~``, ``__nameless__``: nameless)."""
    return MANAGED_IMAGE_PREFIX + managed_image_id(name)


def parse_managed_image_tag(tag: str) -> str | None:
    """The image name of a managed-image record (``""``: nameless), or None.

    A bare ``managed-image-`` is not a record: werf never writes it and never deletes it.
    """
    if not tag.startswith(MANAGED_IMAGE_PREFIX) or len(tag) == len(MANAGED_IMAGE_PREFIX):
        return None
    return unslug_image_name(tag[len(MANAGED_IMAGE_PREFIX) :])


# --------------------------------------------------------------------------- image metadata


@dataclass(frozen=True)
class MetaTag:
    """``meta-<id>_<commit>_<stageID>``: image ``id`` at ``commit`` is stage ``stage_id``."""

    image_id: str
    commit: str
    stage_id: StageID

    @property
    def tag(self) -> str:
        return meta_tag_by_id(self.image_id, self.commit, self.stage_id)

    def is_of(self, name: str | None) -> bool:
        """Whether this record belongs to image ``name``."""
        return image_metadata_id(normalize_image_name(name)) == self.image_id


def meta_tag_by_id(image_id: str, commit: str, stage_id: StageID | str) -> str:
    if not is_murmur_id(image_id):
        raise ValueError(f"image metadata id must be lower-case %x of a uint32, got {image_id!r}")
    if not _COMMIT_RE.fullmatch(commit):
        raise ValueError(f"commit must be 40 or 64 lower-case hex chars, got {commit!r}")
    stage = stage_id if isinstance(stage_id, StageID) else parse_stage_id(stage_id)
    if stage is None:
        raise ValueError(f"not a stage ID: {stage_id!r}")
    return f"{META_PREFIX}{image_id}_{commit}_{stage.tag}"


def meta_tag(name: str | None, commit: str, stage_id: StageID | str) -> str:
    """The metadata tag werf writes for image ``name`` built at ``commit`` into ``stage_id``."""
    return meta_tag_by_id(image_metadata_id(name), commit, stage_id)


def parse_meta_tag(tag: str) -> MetaTag | None:
    """Decode ``meta-<id>_<commit>_<stageID>``; None unless split on ``_`` gives 3 valid fields."""
    if not tag.startswith(META_PREFIX):
        return None
    fields = tag[len(META_PREFIX) :].split("_")
    if len(fields) != 3:
        return None
    image_id, commit, stage_text = fields
    stage = parse_stage_id(stage_text)
    if stage is None or not is_murmur_id(image_id) or not _COMMIT_RE.fullmatch(commit):
        return None
    return MetaTag(image_id, commit, stage)


# --------------------------------------------------------------------------- custom tags, imports


def custom_tag_metadata_tag(custom_tag: str) -> str:
    """``custom-tag-meta-<LimitedSlug(tag, 48)>`` of a custom tag (a valid docker tag)."""
    if not custom_tag or not is_valid_docker_tag(custom_tag):
        raise ValueError(f"{custom_tag!r} is not a valid docker tag")
    return CUSTOM_TAG_META_PREFIX + custom_tag_id(custom_tag)


def parse_custom_tag_metadata_tag(tag: str) -> str | None:
    """The custom-tag id (the slugged tag) of a custom tag metadata record, or None."""
    if not tag.startswith(CUSTOM_TAG_META_PREFIX) or len(tag) == len(CUSTOM_TAG_META_PREFIX):
        return None
    return tag[len(CUSTOM_TAG_META_PREFIX) :]


def import_metadata_tag(import_source_id: str) -> str:
    tag = IMPORT_METADATA_PREFIX + import_source_id
    if not import_source_id or not is_valid_docker_tag(tag):
        raise ValueError(f"import source id {import_source_id!r} does not make a valid tag")
    return tag


def parse_import_metadata_tag(tag: str) -> str | None:
    """The import source id of an import metadata record, or None."""
    if not tag.startswith(IMPORT_METADATA_PREFIX) or len(tag) == len(IMPORT_METADATA_PREFIX):
        return None
    return tag[len(IMPORT_METADATA_PREFIX) :]


# --------------------------------------------------------------------------- service records


@dataclass(frozen=True)
class ClientIDTag:
    client_id: str
    timestamp_ms: int


def client_id_tag(client_id: str, timestamp_ms: int) -> str:
    return f"{CLIENT_ID_PREFIX}{client_id}-{int(timestamp_ms)}"


def parse_client_id_tag(tag: str) -> ClientIDTag | None:
    """``client-id-<id>-<ms>`` split on the last ``-`` (as werf reads it), or None."""
    if not tag.startswith(CLIENT_ID_PREFIX):
        return None
    client_id, sep, stamp = tag[len(CLIENT_ID_PREFIX) :].rpartition("-")
    if not sep or not re.fullmatch(r"[0-9]{1,19}", stamp) or int(stamp) >= 2**63:
        return None
    return ClientIDTag(client_id, int(stamp))


# --------------------------------------------------------------------------- classifier


def classify_tag(tag: str) -> Werf2RecordKind:
    """The record kind a tag names, by its name alone (labels: :func:`classify_record`)."""
    if tag == CLEANUP_TAG:
        return Werf2RecordKind.CLEANUP
    if tag.startswith(SYNC_SERVER_TAG):
        return Werf2RecordKind.SYNC_SERVER  # werf reads every "sync-server*" tag as one
    if tag.startswith(CLIENT_ID_PREFIX):
        return Werf2RecordKind.CLIENT_ID
    stage = parse_stage_id(tag)
    if stage is not None:
        return Werf2RecordKind.MULTIPLATFORM_STAGE if stage.is_multiplatform else Werf2RecordKind.STAGE
    if parse_rejected_marker_tag(tag) is not None:
        return Werf2RecordKind.REJECTED_MARKER
    if parse_custom_tag_metadata_tag(tag) is not None:
        return Werf2RecordKind.CUSTOM_TAG_METADATA
    if parse_import_metadata_tag(tag) is not None:
        return Werf2RecordKind.IMPORT_METADATA
    if parse_meta_tag(tag) is not None:
        return Werf2RecordKind.IMAGE_METADATA
    if parse_managed_image_tag(tag) is not None:
        return Werf2RecordKind.MANAGED_IMAGE
    return Werf2RecordKind.FOREIGN
