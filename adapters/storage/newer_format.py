"""Signs of werf 1.2 / 2.x content in a storage read as werf v1.1's (SPEC §13.2, §13.4).

werf 1.2 and 2.x build into one repository whose stage tags (``<digest>-<ms>``) have exactly the
shape of v1.1's (``<signature>-<ms>``). Read as v1.1, such stages look unused and would be
deleted, so every v1.1 run looks for these signs before it decides anything, and stops on any.
Pure functions: the backends hand in tags and labels.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.storage import codec

#: werf ≥ 1.2's image metadata records: ``meta-<id>_<commit>_<stage ID>``
META_PREFIX = "meta-"
CUSTOM_TAG_META_PREFIX = "custom-tag-meta-"
IMPORT_METADATA_PREFIX = "import-metadata-"

LABEL_STAGE_CONTENT_DIGEST = "werf-stage-content-digest"
LABEL_PARENT_STAGE_ID = "werf.io/parent-stage-id"
LABEL_BASE_IMAGE_ID = "werf.io/base-image-id"


def record_sign(tag: str) -> str | None:
    """What makes ``tag`` a werf 1.2+ service record, or None."""
    if tag.startswith(CUSTOM_TAG_META_PREFIX) and len(tag) > len(CUSTOM_TAG_META_PREFIX):
        return "a werf 1.2+ custom tag metadata record (custom-tag-meta-…)"
    if tag.startswith(IMPORT_METADATA_PREFIX) and len(tag) > len(IMPORT_METADATA_PREFIX):
        return "a werf 1.2+ import metadata record (import-metadata-…)"
    if tag.startswith(META_PREFIX) and len(tag[len(META_PREFIX) :].split("_")) == 3:
        return "a werf 1.2+ image metadata record (meta-…)"
    return None


def stage_sign(labels: Mapping[str, str] | None) -> str | None:
    """What in a stage-shaped tag's labels says werf ≥ 1.2 built it, or None (a v1.1 stage).

    A v1.1 stage always carries ``werf-stage-signature`` and ``werf-cache-version=1.1``; werf 1.2+
    stages carry a content digest, a parent stage id and a cache version of their own instead.
    """
    labels = labels or {}
    version = labels.get(codec.LABEL_CACHE_VERSION)
    if version is not None and version != codec.CACHE_VERSION:
        return f"a stage of werf cache version {version} (label {codec.LABEL_CACHE_VERSION})"
    for label in (LABEL_STAGE_CONTENT_DIGEST, LABEL_PARENT_STAGE_ID, LABEL_BASE_IMAGE_ID):
        if label in labels:
            return f"a werf 1.2+ stage (label {label})"
    if codec.LABEL_PROJECT in labels and codec.LABEL_STAGE_SIGNATURE not in labels:
        return f"a werf 1.2+ stage (label {codec.LABEL_STAGE_SIGNATURE} missing)"
    return None


def image_sign(labels: Mapping[str, str] | None) -> str | None:
    """What in an images-repo tag's labels says it is a werf 1.2+ stage, or None.

    Unlike a stages storage, an images repo holds foreign images, so only labels that werf 1.2+
    alone writes count here (never a missing label).
    """
    labels = labels or {}
    if labels.get(codec.LABEL_IMAGE) == "true":
        return None  # a v1.1 end image
    version = labels.get(codec.LABEL_CACHE_VERSION)
    if version is not None and version != codec.CACHE_VERSION and codec.LABEL_PROJECT in labels:
        return f"a stage of werf cache version {version} (label {codec.LABEL_CACHE_VERSION})"
    for label in (LABEL_STAGE_CONTENT_DIGEST, LABEL_PARENT_STAGE_ID, LABEL_BASE_IMAGE_ID):
        if label in labels and codec.LABEL_PROJECT in labels:
            return f"a werf 1.2+ stage (label {label})"
    return None
