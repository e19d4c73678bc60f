"""The stages-storage interface every backend implements, and the listing logic they share.

A backend only knows how to list its entries, describe them (digest, image id, config), put a
config as a manifest-only image and delete tags. Everything werf-specific — which tag is a stage,
a marker or a record, how rows of the Arrow tables look — lives here and in :mod:`codec`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

import pyarrow as pa

from adapters.storage import codec, newer_format
from adapters.storage.records import (  # noqa: F401 - the records are part of this interface
    DeleteResult,
    Described,
    Entry,
    already_gone,
    blob_rows,
    deleted,
    failed,
    kept,
    manifest_blobs,
)
from schemas.errors import InvalidImageName
from schemas.tables import BLOBS_SCHEMA, MANAGED_IMAGES_SCHEMA, METADATA_SCHEMA, NEWER_FORMAT_SIGNS_SCHEMA, STAGES_SCHEMA

log = logging.getLogger(__name__)


def ordered_phases(rows: Sequence[Mapping]) -> list[list[int]]:
    """Row indexes grouped by ``item_type`` in order of first appearance.

    Deletion runs one group after the other (concurrently inside a group), so a plan's order
    between kinds — stage before its rejected marker, tags before metadata — is kept.
    """
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(str(row.get("item_type") or ""), []).append(index)
    return list(groups.values())


def to_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware times")
    return moment.astimezone(UTC)


class DeferredWrites:
    """Writes made inside (nested) ``batch()`` blocks are held and written together when the
    outermost block ends. A subclass calls ``_init_deferred(empty)`` with a factory of an empty
    pending collection, appends to ``self._pending`` under ``self._guard`` while
    ``self._batch_depth`` is set, and implements ``_flush(pending)``."""

    def _init_deferred(self, empty: Callable[[], object]) -> None:
        self._new_pending = empty
        self._pending = empty()
        self._batch_depth = 0
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        with self._guard:
            self._batch_depth += 1
        try:
            yield
        finally:
            with self._guard:
                self._batch_depth -= 1
                pending = None
                if self._batch_depth == 0:
                    pending, self._pending = self._pending, self._new_pending()
            if pending:
                self._flush(pending)

    def _flush(self, pending) -> None:
        raise NotImplementedError


class StagesStorage(ABC):
    """A werf v1.1 stages storage: stages, rejected markers, metadata and managed-image records."""

    def __init__(self, address: str, project: str) -> None:
        if not project or project != project.lower():
            raise InvalidImageName(
                f"invalid project name {project!r}: it must be non-empty and lower-case",
                hint="set `project:` in werf.yaml to a lower-case name",
            )
        self.address = address
        self.project = project

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r}, project={self.project!r})"

    def close(self) -> None:
        """Release connections and worker threads."""

    def containers_using_stages(self) -> dict[str, list[str]]:
        """Stage tag -> names of containers made from it (only ``:local`` has containers)."""
        return {}

    def __enter__(self) -> StagesStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ backend primitives

    @abstractmethod
    def _entries(self) -> list[Entry]:
        """Every tag of the storage (all record kinds)."""

    @abstractmethod
    def _describe(self, entries: Sequence[Entry]) -> dict[Entry, Described]:
        """Full descriptions, fetched concurrently; entries that vanished meanwhile are absent."""

    @abstractmethod
    def _digests(self, entries: Sequence[Entry]) -> dict[Entry, str]:
        """Digests only; entries that vanished meanwhile are absent."""

    @abstractmethod
    def _location(self, record_tag: str) -> tuple[str, str]:
        """(repository, tag) where the record ``record_tag`` is stored."""

    @abstractmethod
    def _put(self, repository: str, tag: str, config: bytes) -> str:
        """Store ``config`` as a manifest-only image at ``repository:tag``; return its digest."""

    @abstractmethod
    def _copy(self, repository: str, tag: str, new_tag: str) -> str:
        """Point ``repository:new_tag`` at the image of ``repository:tag``; return the digest."""

    @abstractmethod
    def delete_items(
        self, rows: Sequence[Mapping], parallel: int | None = None, leaving: Mapping[str, Collection[str]] | None = None
    ) -> list[DeleteResult]:
        """Delete rows (``repository, tag, digest, item_type``); one result per row, same order.

        ``leaving``: repository → every tag the whole plan deletes there. Every other tag of the
        repository stays, and only those are looked up for the shared-digest check; without it,
        every tag of the repository is. Failures are captured per row; only refused credentials
        (401/403) raise.
        """

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes; some backends make them visible only when the block ends."""
        yield

    @contextlib.contextmanager
    def listing(self) -> Iterator[None]:
        """Reads inside the block share one tag list of each repository (an inventory)."""
        yield

    # ------------------------------------------------------------------ naming

    def docker_image_name(self, tag: str) -> str:
        """The value of ``werf-docker-image-name`` for a stage tag."""
        repository, stored_tag = self._location(tag)
        return f"{repository}:{stored_tag}"

    # ------------------------------------------------------------------ reading

    def list_stages(self) -> pa.Table:
        """Every stage (STAGES_SCHEMA), with its rejected marker when there is one (see
        :meth:`list_stages_and_blobs`)."""
        return self.list_stages_and_blobs()[0]

    def list_stages_and_blobs(self) -> tuple[pa.Table, pa.Table]:
        """Every stage (STAGES_SCHEMA), with its rejected marker when there is one, and the blobs
        their manifests reference (BLOBS_SCHEMA), from the same reads (see :meth:`read_stages`)."""
        stages, blobs, _ = self.read_stages()
        return stages, blobs

    def read_stages(self) -> tuple[pa.Table, pa.Table, pa.Table]:
        """Every stage (STAGES_SCHEMA), with its rejected marker when there is one; the blobs
        their manifests reference (BLOBS_SCHEMA); and the stage-shaped tags whose labels say
        werf 1.2+ built them (NEWER_FORMAT_SIGNS_SCHEMA), all from the same reads.

        A marker whose stage is already gone (a run stopped between the two deletes) still gets
        a row — ``rejected`` true, ``digest``/``image_id`` null — so that the next run deletes it.
        """
        entries = self._entries()
        stages: dict[Entry, codec.StageTag] = {}
        markers: dict[codec.StageTag, Entry] = {}
        for entry in entries:
            parsed = codec.parse_stage_tag(entry.record_tag)
            if parsed is not None:
                stages[entry] = parsed
                continue
            rejected = codec.parse_rejected_marker_tag(entry.record_tag)
            if rejected is not None:
                markers[rejected] = entry
            elif codec.classify_tag(entry.record_tag) is codec.RecordKind.UNKNOWN:
                log.debug("ignoring tag %s:%s: not a werf v1.1 record", entry.repository, entry.tag)
        described = self._describe(list(stages))
        marker_digests = self._digests(list(markers.values()))
        rows = []
        blobs: list[dict] = []
        signs: list[dict] = []
        for entry, stage in stages.items():
            info = described.get(entry)
            if info is None:
                log.debug("stage %s:%s vanished while listing", entry.repository, entry.tag)
                continue
            blobs += blob_rows(entry.repository, entry.tag, info)
            if (sign := newer_format.stage_sign(info.labels)) is not None:
                signs.append({"repository": entry.repository, "tag": entry.tag, "sign": sign})
            rows.append(self._stage_row(entry, stage, info, markers.get(stage), marker_digests))
        listed = {(row["signature"], row["unique_id"]) for row in rows}
        for stage, marker in markers.items():
            if (stage.signature, stage.unique_id) not in listed and marker in marker_digests:
                repository, tag = self._location(stage.tag)
                rows.append(self._stage_row(Entry(repository, tag, stage.tag), stage, None, marker, marker_digests))
        rows.sort(key=lambda row: (row["signature"], row["unique_id"], row["tag"]))
        return (
            pa.Table.from_pylist(rows, schema=STAGES_SCHEMA),
            pa.Table.from_pylist(blobs, schema=BLOBS_SCHEMA),
            pa.Table.from_pylist(signs, schema=NEWER_FORMAT_SIGNS_SCHEMA),
        )

    def newer_format_records(self) -> pa.Table:
        """The werf 1.2+ service records among the storage's tags (NEWER_FORMAT_SIGNS_SCHEMA):
        ``meta-…``, ``custom-tag-meta-…``, ``import-metadata-…``. Tags only, no reads."""
        rows = [
            {"repository": entry.repository, "tag": entry.tag, "sign": sign}
            for entry in self._entries()
            if (sign := newer_format.record_sign(entry.record_tag)) is not None
        ]
        return pa.Table.from_pylist(rows, schema=NEWER_FORMAT_SIGNS_SCHEMA)

    @staticmethod
    def _stage_row(
        entry: Entry, stage: codec.StageTag, info: Described | None, marker: Entry | None, marker_digests: dict
    ) -> dict:
        marker_digest = marker_digests.get(marker) if marker is not None else None
        return {
            "repository": entry.repository,
            "tag": entry.tag,
            "signature": stage.signature,
            "unique_id": stage.unique_id,
            "digest": info.digest if info else None,
            "image_id": info.image_id if info else None,
            "parent_id": codec.parent_id(info.config) if info else None,
            "import_ids": codec.import_ids(info.labels) if info else [],
            "created": codec.created_at(info.config) if info else None,
            "rejected": marker_digest is not None,
            "rejected_tag": marker.tag if marker_digest is not None else None,
            "rejected_digest": marker_digest,
            "size_bytes": info.size_bytes if info else None,
            "project": info.labels.get(codec.LABEL_PROJECT) if info else None,
        }

    def list_metadata(self, image_names: Iterable[str] | None = None) -> pa.Table:
        """image-metadata-by-commit records (METADATA_SCHEMA), optionally of some image names only."""
        names = None if image_names is None else [codec.normalize_image_name(n) for n in image_names]
        found: dict[Entry, codec.MetadataTag] = {}
        for entry in self._entries():
            if entry.record_tag.startswith(codec.METADATA_PREFIX):
                parsed = codec.parse_metadata_tag(entry.record_tag, names)
                if parsed is not None:
                    found[entry] = parsed
        described = self._describe(list(found))
        rows = [
            {
                "image_name": meta.image_name,
                "commit": meta.commit,
                "content_signature": described[entry].labels.get(codec.LABEL_METADATA_CONTENT_SIGNATURE),
                "repository": entry.repository,
                "tag": entry.tag,
                "digest": described[entry].digest,
            }
            for entry, meta in sorted(found.items(), key=lambda item: item[0].tag)
            if entry in described
        ]
        return pa.Table.from_pylist(rows, schema=METADATA_SCHEMA)

    def list_managed_images(self) -> pa.Table:
        """managed-image records (MANAGED_IMAGES_SCHEMA); the nameless image is ``""``."""
        found = {
            entry: name for entry in self._entries() if (name := codec.parse_managed_image_tag(entry.record_tag)) is not None
        }
        digests = self._digests(list(found))
        rows = [
            {"image_name": name, "repository": entry.repository, "tag": entry.tag, "digest": digests[entry]}
            for entry, name in sorted(found.items(), key=lambda item: item[1])
            if entry in digests
        ]
        return pa.Table.from_pylist(rows, schema=MANAGED_IMAGES_SCHEMA)

    def tag_digests(self) -> dict[str, str]:
        """tag → digest for every tag of the storage (all record kinds, foreign tags too)."""
        return {entry.tag: digest for entry, digest in self._digests(self._entries()).items()}

    # ------------------------------------------------------------------ writing

    def stage_config(
        self,
        signature: str,
        unique_id_ms: int,
        parent_id: str | None,
        labels_extra: Mapping[str, str] | None = None,
        created: datetime | None = None,
    ) -> bytes:
        """The config blob :meth:`write_stage` stores (its digest is the stage's image id)."""
        tag = codec.format_stage_tag(signature, unique_id_ms)
        labels = codec.stage_labels(self.project, signature, self.docker_image_name(tag))
        labels.update(labels_extra or {})
        when = to_utc(created) or datetime.fromtimestamp(unique_id_ms / 1000, UTC)
        return codec.image_config(labels, when, parent=parent_id)

    def write_stage(
        self,
        signature: str,
        unique_id_ms: int,
        parent_id: str | None,
        labels_extra: Mapping[str, str] | None = None,
        created: datetime | None = None,
    ) -> str:
        """Store a stage image; return its image id. ``created`` defaults to the unique id's time."""
        config = self.stage_config(signature, unique_id_ms, parent_id, labels_extra, created)
        self._put(*self._location(codec.format_stage_tag(signature, unique_id_ms)), config)
        return codec.image_id(config)

    def write_rejected_marker(self, signature: str, unique_id: int) -> str:
        config = codec.image_config(codec.managed_image_labels(self.project), codec.unique_now_ns())
        return self._put(*self._location(codec.rejected_marker_tag(signature, unique_id)), config)

    def write_metadata(self, image_name: str, commit: str, content_signature: str, created: datetime | None = None) -> str:
        labels = codec.metadata_labels(self.project, content_signature)
        config = codec.image_config(labels, to_utc(created) or codec.unique_now_ns())
        return self._put(*self._location(codec.metadata_tag(image_name, commit)), config)

    def write_managed_image(self, image_name: str) -> str:
        config = codec.image_config(codec.managed_image_labels(self.project), codec.unique_now_ns())
        return self._put(*self._location(codec.managed_image_tag(image_name)), config)

    def write_client_id(self, client_id: str, unix_ms: int) -> str:
        config = codec.image_config(codec.managed_image_labels(self.project), codec.unique_now_ns())
        return self._put(*self._location(codec.client_id_tag(client_id, unix_ms)), config)

    def copy_tag(self, tag: str, new_tag: str) -> str:
        """Give the image of stored ``tag`` a second tag ``new_tag`` beside it (``docker tag``);
        return the digest both share."""
        repository, _ = self._location(tag)
        return self._copy(repository, tag, new_tag)

    # ------------------------------------------------------------------ managed images

    def add_managed_image(self, image_name: str) -> None:
        """Record ``image_name`` (``~`` or ``""`` for the nameless image) as managed."""
        self.write_managed_image(codec.validate_image_name(image_name))

    def rm_managed_image(self, image_name: str) -> DeleteResult:
        """Remove the managed-image record of ``image_name`` (``already-gone`` when absent)."""
        repository, tag = self._location(codec.managed_image_tag(image_name))
        row = {"repository": repository, "tag": tag, "digest": None, "item_type": "managed-image"}
        return self.delete_items([row])[0]
