"""The werf v1.1 storage format: tag names, image-name slugs, labels and image configs.

Pure functions only (no I/O). Every backend (registry, OCI layout, local Docker) encodes and
decodes records through this module, so the three stay byte-compatible with werf v1.1 and with
each other (SPEC §1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from adapters.storage.imageconfig import (  # noqa: F401  re-exported: one module to import
    DOCKER_MEDIA_TYPES,
    OCI_MEDIA_TYPES,
    MediaTypes,
    config_labels,
    created_at,
    digest_of,
    format_created,
    image_config,
    image_id,
    image_manifest,
    parent_id,
    parse_created,
    unique_now_ns,
)
from schemas.errors import InvalidImageName
from schemas.vocab import ImagesRepoMode

TAG_MAX_LENGTH = 128
SIGNATURE_LENGTH = 56
NAMELESS_SLUG = "__nameless__"
NAMELESS_ALIASES = ("", "~")

MANAGED_IMAGE_PREFIX = "managed-image-"
METADATA_PREFIX = "image-metadata-by-commit-"
CLIENT_ID_PREFIX = "client-id-"
REJECTED_SUFFIX = "-rejected"

CACHE_VERSION = "1.1"
IMAGE_VERSION = "1"

# Label names (werf v1.1 pkg/image).
LABEL_PROJECT = "werf"
LABEL_STAGE_SIGNATURE = "werf-stage-signature"
LABEL_STAGE_CONTENT_SIGNATURE = "werf-stage-content-signature"
LABEL_IMAGE = "werf-image"
LABEL_CACHE_VERSION = "werf-cache-version"
LABEL_DOCKER_IMAGE_NAME = "werf-docker-image-name"
LABEL_IMPORT_PREFIX = "werf-import-"
LABEL_IMAGE_NAME = "werf-image-name"
LABEL_IMAGE_TAG = "werf-image-tag"
LABEL_CONTENT_SIGNATURE = "werf-content-signature"
LABEL_TAG_STRATEGY = "werf-tag-strategy"
LABEL_IMAGE_VERSION = "werf-image-version"
LABEL_METADATA_CONTENT_SIGNATURE = "ContentSignature"

# :local layout (SPEC §1.2).
LOCAL_STAGES_REPO = "werf-stages-storage/{project}"
LOCAL_MANAGED_IMAGES_REPO = "werf-managed-images/{project}"
LOCAL_METADATA_REPO = "werf-images-metadata-by-commit/{project}"

_SIGNATURE_RE = re.compile(rf"[0-9a-f]{{{SIGNATURE_LENGTH}}}")
_IMAGE_NAME_CHARS_RE = re.compile(r"[a-z0-9._/+-]+")


class RecordKind(StrEnum):
    """What a tag of a stages storage is."""

    STAGE = "stage"
    REJECTED_MARKER = "rejected-marker"
    MANAGED_IMAGE = "managed-image"
    IMAGE_METADATA = "image-metadata"
    CLIENT_ID = "client-id"
    UNKNOWN = "unknown"


# --------------------------------------------------------------------------- image names


def normalize_image_name(name: str | None) -> str:
    """The canonical form of a werf image name: ``""`` for the nameless image (``~``, None)."""
    if name is None or name in NAMELESS_ALIASES:
        return ""
    return name


def display_image_name(name: str) -> str:
    """How a name is shown to users and in the audit: ``~`` for the nameless image."""
    return name if name else "~"


def validate_image_name(name: str | None) -> str:
    """Return the canonical name or raise :class:`InvalidImageName` saying what is wrong."""
    canonical = normalize_image_name(name)
    if not canonical:
        return canonical
    if canonical != canonical.lower():
        raise InvalidImageName(
            f"invalid image name {canonical!r}: image names must not contain upper-case letters",
            hint=f"rename the image in werf.yaml, e.g. to {canonical.lower()!r}",
        )
    if not _IMAGE_NAME_CHARS_RE.fullmatch(canonical) or "//" in canonical or canonical[0] in "/.-":
        raise InvalidImageName(
            f"invalid image name {canonical!r}: use lower-case letters, digits and . _ - + / "
            "(not leading, no empty path component)",
            hint="rename the image in werf.yaml",
        )
    return canonical


def slug_image_name(name: str | None) -> str:
    """werf's slug of an image name for use inside a tag."""
    canonical = normalize_image_name(name)
    if not canonical:
        return NAMELESS_SLUG
    return canonical.replace("/", "__slash__").replace("+", "__plus__")


def unslug_image_name(slug: str) -> str:
    """Reverse of :func:`slug_image_name` (``""`` for the nameless image)."""
    if slug == NAMELESS_SLUG:
        return ""
    return slug.replace("__slash__", "/").replace("__plus__", "+")


# --------------------------------------------------------------------------- stage tags


@dataclass(frozen=True, order=True)
class StageTag:
    signature: str
    unique_id: int

    @property
    def tag(self) -> str:
        return format_stage_tag(self.signature, self.unique_id)

    @property
    def rejected_tag(self) -> str:
        return rejected_marker_tag(self.signature, self.unique_id)


def is_signature(value: str) -> bool:
    return bool(_SIGNATURE_RE.fullmatch(value))


def format_stage_tag(signature: str, unique_id: int) -> str:
    if not is_signature(signature):
        raise ValueError(f"stage signature must be {SIGNATURE_LENGTH} lower-case hex chars, got {signature!r}")
    return f"{signature}-{int(unique_id)}"


def _parse_unique_id(text: str) -> int | None:
    # Unix milliseconds: decimal digits that fit an int64.
    if not re.fullmatch(r"[0-9]{1,19}", text) or int(text) >= 2**63:
        return None
    return int(text)


def parse_stage_tag(tag: str) -> StageTag | None:
    """``<signature>-<uniqueID>`` split on the first ``-``; None when the tag is not a stage.

    The signature must be 56 lower-case hex characters: a foreign tag such as ``v1-2`` is never
    taken for a stage (and so never deleted as one).
    """
    signature, sep, rest = tag.partition("-")
    if not sep:
        return None
    unique_id = _parse_unique_id(rest)
    if unique_id is None or not is_signature(signature):
        return None
    return StageTag(signature, unique_id)


def rejected_marker_tag(signature: str, unique_id: int) -> str:
    return format_stage_tag(signature, unique_id) + REJECTED_SUFFIX


def parse_rejected_marker_tag(tag: str) -> StageTag | None:
    """The stage a ``<signature>-<uniqueID>-rejected`` marker rejects, or None."""
    if not tag.endswith(REJECTED_SUFFIX):
        return None
    return parse_stage_tag(tag[: -len(REJECTED_SUFFIX)])


# --------------------------------------------------------------------------- service records


def managed_image_tag(name: str | None) -> str:
    return MANAGED_IMAGE_PREFIX + slug_image_name(validate_image_name(name))


def parse_managed_image_tag(tag: str) -> str | None:
    """The image name of a ``managed-image-<slug>`` tag, or None."""
    if not tag.startswith(MANAGED_IMAGE_PREFIX) or len(tag) == len(MANAGED_IMAGE_PREFIX):
        return None
    return unslug_image_name(tag[len(MANAGED_IMAGE_PREFIX) :])


def metadata_tag(name: str | None, commit: str) -> str:
    """``image-metadata-by-commit-<slug(name)>-<commit>``, at most 128 characters.

    When too long, the name part is shortened (the commit is kept whole) and its ``-`` become
    ``_`` so that the commit stays the last ``-``-separated field.
    """
    if not commit or "-" in commit:
        raise ValueError(f"commit must be a non-empty string without '-', got {commit!r}")
    name_part = slug_image_name(validate_image_name(name))
    tag = f"{METADATA_PREFIX}{name_part}-{commit}"
    if len(tag) <= TAG_MAX_LENGTH:
        return tag
    room = TAG_MAX_LENGTH - len(METADATA_PREFIX) - 1 - len(commit)
    if room < 1:
        raise ValueError(f"commit {commit!r} is too long for a metadata tag")
    name_part = name_part.replace("-", "_")[:room]
    return f"{METADATA_PREFIX}{name_part}-{commit}"


@dataclass(frozen=True)
class MetadataTag:
    image_name: str
    commit: str


def metadata_commit(tag: str) -> str | None:
    """The commit of a metadata tag (its last ``-`` field), without the rebuild check."""
    if not tag.startswith(METADATA_PREFIX):
        return None
    name_part, sep, commit = tag[len(METADATA_PREFIX) :].rpartition("-")
    if not sep or not name_part or not commit:
        return None
    return commit


def parse_metadata_tag(tag: str, image_names: list[str] | None = None) -> MetadataTag | None:
    """Decode a metadata tag, accepting it only if rebuilding it gives the same string.

    With ``image_names`` the tag is attributed to the first of those names that rebuilds it
    (this also finds records whose name part was shortened); without, to the unslugged name part.
    """
    commit = metadata_commit(tag)
    if commit is None:
        return None
    if image_names is not None:
        for name in image_names:
            canonical = normalize_image_name(name)
            if metadata_tag(canonical, commit) == tag:
                return MetadataTag(canonical, commit)
        return None
    name = unslug_image_name(tag[len(METADATA_PREFIX) : -len(commit) - 1])
    try:
        rebuilt = metadata_tag(name, commit)
    except (InvalidImageName, ValueError):
        return None
    return MetadataTag(name, commit) if rebuilt == tag else None


def client_id_tag(client_id: str, unix_ms: int) -> str:
    return f"{CLIENT_ID_PREFIX}{client_id}-{int(unix_ms)}"


def is_client_id_tag(tag: str) -> bool:
    return tag.startswith(CLIENT_ID_PREFIX)


def classify_tag(tag: str) -> RecordKind:
    """What kind of stages-storage record a tag is (``UNKNOWN`` tags are ignored)."""
    if parse_stage_tag(tag) is not None:
        return RecordKind.STAGE
    if parse_rejected_marker_tag(tag) is not None:
        return RecordKind.REJECTED_MARKER
    if is_client_id_tag(tag):
        return RecordKind.CLIENT_ID
    if tag.startswith(METADATA_PREFIX):
        return RecordKind.IMAGE_METADATA if parse_metadata_tag(tag) is not None else RecordKind.UNKNOWN
    if parse_managed_image_tag(tag) is not None:
        return RecordKind.MANAGED_IMAGE
    return RecordKind.UNKNOWN


# --------------------------------------------------------------------------- labels


def stage_labels(
    project: str,
    signature: str,
    docker_image_name: str,
    *,
    content_signature: str | None = None,
    imports: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Labels of a stage image. ``imports`` maps a label suffix to an import source image id."""
    labels = {
        LABEL_PROJECT: project,
        LABEL_STAGE_SIGNATURE: signature,
        LABEL_IMAGE: "false",
        LABEL_CACHE_VERSION: CACHE_VERSION,
        LABEL_DOCKER_IMAGE_NAME: docker_image_name,
    }
    if content_signature:
        labels[LABEL_STAGE_CONTENT_SIGNATURE] = content_signature
    for suffix, source_id in (imports or {}).items():
        labels[LABEL_IMPORT_PREFIX + suffix] = source_id
    return labels


def import_ids(labels: Mapping[str, str] | None) -> list[str]:
    """Image ids named by ``werf-import-*`` labels, in label-name order."""
    labels = labels or {}
    return [labels[key] for key in sorted(labels) if key.startswith(LABEL_IMPORT_PREFIX) and labels[key]]


def end_image_labels(
    image_name: str,
    tag: str,
    content_signature: str,
    docker_image_name: str,
    tag_strategy: str = "git-branch",
) -> dict[str, str]:
    """Labels werf v1.1 sets on a published end image (on top of its last stage's labels)."""
    return {
        LABEL_IMAGE: "true",
        LABEL_IMAGE_NAME: normalize_image_name(image_name),
        LABEL_IMAGE_TAG: tag,
        LABEL_CONTENT_SIGNATURE: content_signature,
        LABEL_TAG_STRATEGY: tag_strategy,
        LABEL_DOCKER_IMAGE_NAME: docker_image_name,
        LABEL_IMAGE_VERSION: IMAGE_VERSION,
    }


def metadata_labels(project: str, content_signature: str) -> dict[str, str]:
    return {LABEL_PROJECT: project, LABEL_METADATA_CONTENT_SIGNATURE: content_signature}


def managed_image_labels(project: str) -> dict[str, str]:
    return {LABEL_PROJECT: project}


def is_werf_image(labels: Mapping[str, str] | None, mode: str, image_name: str) -> bool:
    """Whether an images-repo tag is a werf image of ``image_name`` (SPEC §1.3)."""
    labels = labels or {}
    if labels.get(LABEL_IMAGE) != "true":
        return False
    if ImagesRepoMode(mode) is ImagesRepoMode.MONOREPO:
        return labels.get(LABEL_IMAGE_NAME, "") == normalize_image_name(image_name)
    return True


# --------------------------------------------------------------------------- images repo naming


def images_repo_location(base: str, mode: str, image_name: str, tag: str) -> tuple[str, str]:
    """(repository, tag) where meta tag ``tag`` of image ``image_name`` lives."""
    name = validate_image_name(image_name)
    return images_repo_repository(base, mode, name), images_repo_tag(mode, name, tag)


def images_repo_repository(base: str, mode: str, image_name: str) -> str:
    name = normalize_image_name(image_name)
    if ImagesRepoMode(mode) is ImagesRepoMode.MULTIREPO and name:
        return f"{base}/{name}"
    return base


def images_repo_tag(mode: str, image_name: str, tag: str) -> str:
    name = normalize_image_name(image_name)
    if ImagesRepoMode(mode) is ImagesRepoMode.MONOREPO and name:
        if "/" in name or "+" in name:
            raise InvalidImageName(
                f"image name {name!r} cannot be used with --images-repo-mode monorepo: "
                f"the tag {name}-{tag} would not be a valid tag",
                hint="use multirepo mode or an image name without '/' and '+'",
            )
        return f"{name}-{tag}"
    return tag
