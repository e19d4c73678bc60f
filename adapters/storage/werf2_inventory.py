"""The rows of a werf 1.2 / 2.x repository's inventory (``schemas.repo_tables``), from its tag list
and the descriptions read (SPEC §13.2). No I/O: :mod:`adapters.storage.werf2_repo` reads, this
module turns what was read into rows.

What a tag is comes from its name (:func:`werf2_codec.classify_tag`), confirmed by its labels where
the run reads them (:func:`werf2_labels.classify_record`): a record whose labels are not this
project's werf record is *foreign* (never deleted). A tag that a custom-tag metadata record names
is listed with kind ``custom-tag``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from adapters.storage import codec as v11_codec
from adapters.storage.imageconfig import config_labels
from adapters.storage.records import Described
from adapters.storage.werf2_codec import (
    StageID,
    Werf2RecordKind,
    parse_managed_image_tag,
    parse_meta_tag,
    parse_rejected_marker_tag,
    parse_stage_id,
)
from adapters.storage.werf2_labels import (
    LABEL_CACHE_VERSION,
    StageLabels,
    read_stage,
)
from adapters.storage.werf2_slug import image_metadata_id, normalize_image_name

#: the kind of a tag a custom-tag metadata record names (SPEC §13.2)
CUSTOM_TAG_KIND = "custom-tag"
#: what makes a tag a werf v1.1 record in a `--repo` (SPEC §13.4)
V11_METADATA_PREFIX = v11_codec.METADATA_PREFIX
V11_CACHE_VERSION = v11_codec.CACHE_VERSION


def older_format_sign(tag: str, labels: Mapping[str, str] | None = None) -> str | None:
    """What makes ``tag`` (with its labels when read) werf v1.1 content, or None."""
    if tag.startswith(V11_METADATA_PREFIX):
        return f"a werf v1.1 image metadata record ({V11_METADATA_PREFIX}…)"
    if labels is not None and labels.get(LABEL_CACHE_VERSION) == V11_CACHE_VERSION:
        return f"a werf v1.1 stage (label {LABEL_CACHE_VERSION}={V11_CACHE_VERSION})"
    return None


@dataclass
class StageRead:
    """A stage as read: its own description and, for an index, its platforms' descriptions."""

    tag: str
    stage: StageID
    info: Described
    platforms: list[Described] = field(default_factory=list)

    @property
    def is_index(self) -> bool:
        return self.info.image_id is None

    def newest(self) -> Described:
        """The description whose config speaks for the stage: itself, or an index's newest platform."""
        if not self.is_index:
            return self.info
        if not self.platforms:
            raise ValueError("an image index without platforms")
        try:
            dated = [(read_stage(_config(p)).created, i) for i, p in enumerate(self.platforms)]
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"a platform's config cannot be read: {exc}") from exc
        if any(created is None for created, _ in dated):
            raise ValueError("a platform of the index has no `created` time")
        return self.platforms[max(dated)[1]]


def _config(info: Described) -> Mapping:
    if not isinstance(info.config, Mapping) or not isinstance(info.config.get("config") or {}, Mapping):
        raise ValueError(f"the image config of {info.digest} is not a JSON object")
    return info.config


def stage_row(repository: str, read: StageRead, marker: tuple[str, str | None] | None) -> tuple[dict, dict[str, str]]:
    """A REPO_STAGES_SCHEMA row of a stage and its labels; ``ValueError`` (saying why) when its
    content cannot be used: a config that is not a JSON object, a bad ``created``, no platforms."""
    newest = read.newest()
    config = _config(newest)
    try:
        labels = read_stage(config)
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"its config cannot be read: {exc}") from exc
    size = sum(p.size_bytes or 0 for p in read.platforms) if read.is_index else read.info.size_bytes
    return _row(repository, read.tag, read.stage, read.info, labels, size, marker, list(read.info.platforms)), config_labels(
        config
    )


def _row(
    repository: str,
    tag: str,
    stage: StageID,
    info: Described | None,
    labels: StageLabels | None,
    size: int | None,
    marker: tuple[str, str | None] | None,
    platforms: list[str],
) -> dict:
    return {
        "repository": repository,
        "tag": tag,
        "stage_digest": stage.digest,
        "creation_ts": stage.creation_ts,
        "digest": info.digest if info else None,
        "image_id": info.image_id if info else None,
        "parent_image_id": labels.parent_image_id if labels else None,
        "parent_stage_id": str(labels.parent_stage_id) if labels and labels.parent_stage_id else None,
        "import_source_ids": [str(s) for s in labels.import_source_stages()] if labels else [],
        "import_checksums": sorted(set(labels.import_checksums.values())) if labels else [],
        "dependency_ids": [str(s) for s in labels.dependency_stages()] if labels else [],
        "platform_digests": platforms,
        "created": labels.created if labels else None,
        "rejected": marker is not None,
        "rejected_tag": marker[0] if marker else None,
        "rejected_digest": marker[1] if marker else None,
        "size_bytes": size,
        "project": labels.project if labels else None,
        "cache_version": labels.cache_version if labels else None,
    }


def orphan_marker_row(repository: str, stage: StageID, marker: tuple[str, str | None]) -> dict:
    """A rejected marker whose stage is gone (a run stopped between the two deletes): a row with
    ``rejected`` true and no digest, so that a cleanup deletes the marker."""
    return _row(repository, stage.tag, stage, None, None, None, marker, [])


def markers_by_stage(tags: Iterable[str], digests: Mapping[str, str]) -> dict[StageID, tuple[str, str | None]]:
    """Stage → (its rejected marker's tag, the marker's digest where known)."""
    found = {}
    for tag in tags:
        stage = parse_rejected_marker_tag(tag)
        if stage is not None:
            found[stage] = (tag, digests.get(tag))
    return found


def names_by_metadata_id(names: Iterable[str]) -> dict[str, str]:
    """MurmurHash3 id → image name (the first name given wins a collision); ``InvalidImageName``
    for a name whose id stagesweep cannot compute (werf would transliterate it)."""
    found: dict[str, str] = {}
    for name in names:
        canonical = normalize_image_name(name)
        # a name werf would transliterate raises InvalidImageName: its records could not be told
        # apart from those of images that are gone, and a run must not delete them as such
        found.setdefault(image_metadata_id(canonical), canonical)
    return found


def meta_rows(repository: str, tags: Iterable[str], names: Mapping[str, str], digests: Mapping[str, str]) -> list[dict]:
    rows = []
    for tag in tags:
        meta = parse_meta_tag(tag)
        if meta is None:
            continue
        rows.append(
            {
                "repository": repository,
                "tag": tag,
                "image_id": meta.image_id,
                "image_name": names.get(meta.image_id),
                "commit": meta.commit,
                "stage_id": meta.stage_id.tag,
                "digest": digests.get(tag),
            }
        )
    return sorted(rows, key=lambda row: row["tag"])


def managed_rows(repository: str, tags: Iterable[str], digests: Mapping[str, str]) -> list[dict]:
    """MANAGED_IMAGES_SCHEMA rows; the nameless image is ``""`` (as werf v1.1's listing has it)."""
    rows = [
        {"image_name": name, "repository": repository, "tag": tag, "digest": digests.get(tag)}
        for tag in tags
        if (name := parse_managed_image_tag(tag)) is not None
    ]
    return sorted(rows, key=lambda row: (row["image_name"], row["tag"]))


def is_stage_tag(tag: str) -> bool:
    """Stage tags (``<digest>-<creationTs>`` and a multi-platform ``<digest>``) are never pushed
    with other content: a multi-platform stage's digest is that of its platforms' stage IDs."""
    return parse_stage_id(tag) is not None


def kinds_of(tags: Sequence[str], kinds: Mapping[str, str], custom_tags: Iterable[str]) -> dict[str, str]:
    """Every tag's kind; foreign tags that a custom-tag metadata record names are custom tags."""
    named = set(custom_tags)
    return {tag: CUSTOM_TAG_KIND if kinds[tag] == Werf2RecordKind.FOREIGN.value and tag in named else kinds[tag] for tag in tags}
