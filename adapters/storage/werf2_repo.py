"""werf 1.2 / 2.x's one repository (`--repo R`, `--final-repo F`; SPEC §13): read, delete, write.

Entry point::

    with open_repo("127.0.0.1:5000/acme/app", "acme", options, cache) as repo:
        inventory = repo.read_inventory(["backend", "frontend"])   # schemas.repo_tables.RepoInventory
        results = repo.delete_items(decision_rows, leaving=leaving)

Reading lists every tag once, then reads only what the tags do not say: stages (manifest +
config; an image index's platforms by digest, unless they are tagged stages read anyway), and the
records whose labels matter (custom-tag metadata, import metadata, ``cleanup``). Meta records,
managed images, rejected markers, client-id and sync-server records are known from their tags.
Custom tags cost one HEAD each (their digest). On a warm cache (:mod:`adapters.cache`) a stage
costs nothing (its tag never moves) and every other tag read costs one HEAD.

A stage that cannot be read (gone between listing and reading, a config that is not JSON, a
broken index) is left out of the stages with a warning and is listed in
``RepoInventory.unreadable``: a run never deletes it. Only refused credentials and errors a retry
can help (``RegistryError.retryable``) stop the read.

Deletes never remove a tag that stays (SPEC §12.4): see :meth:`RegistryBackend.delete`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TypeVar

import pyarrow as pa

from adapters.cache import ContentCache
from adapters.registry import DOCKER_MANIFEST, RegistryOptions, parse_repository
from adapters.registry.vendors import registry_client
from adapters.storage import records
from adapters.storage.imageconfig import digest_of, unique_now_ns
from adapters.storage.local import LOCAL_ADDRESS
from adapters.storage.oci import OciBackend, is_oci_address, layout_path
from adapters.storage.records import DeleteResult, Described
from adapters.storage.registry_store import RegistryBackend
from adapters.storage.repo import RepoBackend, delete_rows
from adapters.storage.werf2_codec import (
    STAGE_KINDS,
    Werf2RecordKind,
    classify_tag,
    managed_image_tag,
    parse_stage_id,
)
from adapters.storage.werf2_inventory import (
    StageRead,
    is_stage_tag,
    kinds_of,
    managed_rows,
    markers_by_stage,
    meta_rows,
    names_by_metadata_id,
    older_format_sign,
    orphan_marker_row,
    stage_row,
)
from adapters.storage.werf2_labels import (
    LABEL_PROJECT,
    ManifestOnlyRecord,
    classify_record,
    cleanup_record,
    cleanup_timestamp_ms,
    custom_tag_metadata_from_labels,
    import_metadata_from_labels,
    managed_image_record,
)
from schemas.errors import InvalidImageName, RegistryAuthError, RegistryError, StorageError
from schemas.repo_tables import (
    CUSTOM_TAGS_SCHEMA,
    IMPORT_METADATA_SCHEMA,
    OLDER_FORMAT_SIGNS_SCHEMA,
    REPO_META_SCHEMA,
    REPO_STAGES_SCHEMA,
    REPO_TAGS_SCHEMA,
    RepoInventory,
)
from schemas.tables import BLOBS_SCHEMA, MANAGED_IMAGES_SCHEMA
from schemas.vocab import ItemType

log = logging.getLogger(__name__)

K = TypeVar("K")

#: records whose labels the inventory reads (the others say everything in their tag)
READ_RECORD_KINDS = frozenset({Werf2RecordKind.CUSTOM_TAG_METADATA, Werf2RecordKind.IMPORT_METADATA, Werf2RecordKind.CLEANUP})
#: errors of one tag's read that make that tag unreadable rather than stop the run
_READ_ERRORS = (RegistryError, StorageError, ValueError)


def open_repo(address: str, project: str, options: RegistryOptions | None = None, cache: ContentCache | None = None) -> Werf2Repo:
    """The repository at ``address``: ``HOST[:PORT]/PATH`` or ``oci:DIR`` (not ``:local``).

    ``cache`` (registries only) keeps manifests and configs between runs; stage tags are
    immutable to it."""
    options = options or RegistryOptions()
    if address == LOCAL_ADDRESS:
        raise StorageError(
            "a werf 1.2 / 2.x repository cannot be :local: werf 1.2+ builds into a registry repository",
            hint="pass --repo HOST[:PORT]/PATH or oci:DIR",
        )
    if is_oci_address(address):
        layout_path(address)
        return Werf2Repo(OciBackend(parallel=options.parallel), address, project)
    try:
        repository = parse_repository(address).repository
    except InvalidImageName as exc:
        raise StorageError(
            f"invalid repository address {address!r}: {exc.message}",
            hint="use HOST[:PORT]/PATH for a registry repository or oci:DIR for an OCI layout",
        ) from exc
    return Werf2Repo(RegistryBackend(registry_client(options), cache, immutable=is_stage_tag), repository, project)


class Werf2Repo:
    """One werf 1.2 / 2.x repository; ``repository`` is how its rows name it."""

    def __init__(self, backend: RepoBackend, repository: str, project: str) -> None:
        if not project or project != project.lower():
            raise InvalidImageName(
                f"invalid project name {project!r}: it must be non-empty and lower-case",
                hint="set `project:` in werf.yaml to a lower-case name",
            )
        self.backend = backend
        self.repository = repository
        self.project = project

    def __repr__(self) -> str:
        return f"Werf2Repo({self.repository!r}, project={self.project!r})"

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Werf2Repo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def read_inventory(self, image_names: Sequence[str]) -> RepoInventory:
        """Every tag once, with what it is; stages, meta records, custom tags, import metadata,
        managed images, the ``cleanup`` record's time, werf v1.1 signs and the blobs read.

        ``image_names``: the werf.yaml's images; a meta record's ``image_name`` is the one of
        these (or of the managed images) whose MurmurHash3 id its tag carries, else null."""
        configured = names_by_metadata_id(image_names)  # before any request: a name it cannot hash stops the run
        with self.backend.snapshot():  # the tag list (and a vendor's listing of digests) read once
            return self._read_inventory(configured)

    def _read_inventory(self, configured: Mapping[str, str]) -> RepoInventory:
        tags = list(dict.fromkeys(self.backend.list_tags(self.repository)))
        kinds = {tag: classify_tag(tag).value for tag in tags}
        digests = dict(self.backend.listed_digests(self.repository) or {})
        unreadable: dict[str, str] = {}
        blobs: list[dict] = []
        signs = [{"tag": tag, "sign": sign} for tag in tags if (sign := older_format_sign(tag)) is not None]

        to_read = [tag for tag in tags if kinds[tag] in STAGE_KINDS or kinds[tag] in READ_RECORD_KINDS]
        described = self._read_each(self.backend.describe, to_read, unreadable)
        for tag, info in described.items():
            digests[tag] = info.digest
            blobs += records.blob_rows(self.repository, tag, info)

        custom_tags, import_metadata, last_cleanup = self._records(tags, kinds, described)
        stages = self._stages(tags, kinds, described, digests, unreadable, blobs, signs)

        named = [row["custom_tag"] for row in custom_tags]
        present = [tag for tag in dict.fromkeys(named) if tag in kinds and tag not in digests]
        digests.update(self.backend.digests(self.repository, present) if present else {})
        for row in custom_tags:
            row["custom_tag_digest"] = digests.get(row["custom_tag"]) if row["custom_tag"] in kinds else None
        kinds = kinds_of(tags, kinds, named)

        managed = managed_rows(self.repository, tags, digests)
        names = {**names_by_metadata_id(row["image_name"] for row in managed), **configured}
        for tag, why in sorted(unreadable.items()):
            log.warning("%s: cannot read %s (%s); it is kept in this run", self.repository, tag, why)
        return RepoInventory(
            repository=self.repository,
            tags=pa.Table.from_pylist(
                [{"repository": self.repository, "tag": t, "kind": kinds[t], "digest": digests.get(t)} for t in tags],
                schema=REPO_TAGS_SCHEMA,
            ),
            stages=pa.Table.from_pylist(sorted(stages, key=lambda row: row["tag"]), schema=REPO_STAGES_SCHEMA),
            meta=pa.Table.from_pylist(meta_rows(self.repository, tags, names, digests), schema=REPO_META_SCHEMA),
            custom_tags=pa.Table.from_pylist(sorted(custom_tags, key=lambda r: r["meta_tag"]), schema=CUSTOM_TAGS_SCHEMA),
            import_metadata=pa.Table.from_pylist(sorted(import_metadata, key=lambda r: r["tag"]), schema=IMPORT_METADATA_SCHEMA),
            managed=pa.Table.from_pylist(managed, schema=MANAGED_IMAGES_SCHEMA),
            unreadable=unreadable,
            older_format=pa.Table.from_pylist(
                [{"repository": self.repository, **sign} for sign in signs], schema=OLDER_FORMAT_SIGNS_SCHEMA
            ),
            last_cleanup_ms=last_cleanup,
            blobs=pa.Table.from_pylist(blobs, schema=BLOBS_SCHEMA),
        )

    def _records(
        self, tags: Sequence[str], kinds: dict[str, str], described: Mapping[str, Described]
    ) -> tuple[list[dict], list[dict], int | None]:
        """Custom tag and import metadata rows, the last cleanup's time; records whose labels
        are not this project's werf records become foreign (``kinds`` is updated)."""
        custom_tags, imports, last_cleanup = [], [], None
        for tag in tags:
            info = described.get(tag)
            if info is None or kinds[tag] not in READ_RECORD_KINDS:
                continue
            labels = info.labels if isinstance(info.config, Mapping) else {}
            kind = classify_record(tag, labels, self.project)
            kinds[tag] = kind.value
            if kind is Werf2RecordKind.CUSTOM_TAG_METADATA:
                meta = custom_tag_metadata_from_labels(tag, labels)
                if meta is None:  # classify_record checked it
                    continue
                custom_tags.append(
                    {
                        "repository": self.repository,
                        "custom_tag": meta.custom_tag,
                        "custom_tag_digest": None,
                        "meta_tag": tag,
                        "meta_digest": info.digest,
                        "stage_id": meta.stage_id.tag,
                        "project": meta.project,
                    }
                )
            elif kind is Werf2RecordKind.IMPORT_METADATA:
                found = import_metadata_from_labels(tag, labels)
                if found is None:
                    continue
                imports.append(
                    {
                        "repository": self.repository,
                        "tag": tag,
                        "digest": info.digest,
                        "import_source_id": found.import_source_id,
                        "checksum": found.checksum,
                        "source_stage_id": found.source_stage_id.tag if found.source_stage_id else None,
                        "source_image_id": found.source_image_id,
                        "project": found.project,
                    }
                )
            elif kind is Werf2RecordKind.CLEANUP:
                last_cleanup = cleanup_timestamp_ms(labels)
        return custom_tags, imports, last_cleanup

    def _stages(
        self,
        tags: Sequence[str],
        kinds: dict[str, str],
        described: Mapping[str, Described],
        digests: Mapping[str, str],
        unreadable: dict[str, str],
        blobs: list[dict],
        signs: list[dict],
    ) -> list[dict]:
        """REPO_STAGES_SCHEMA rows; an index's platforms come from the stages read by manifest
        digest, else are read by digest (their blobs then count under the index's tag)."""
        reads = []
        for tag in tags:
            stage = parse_stage_id(tag)
            if stage is not None and tag in described:
                reads.append(StageRead(tag, stage, described[tag]))
        by_digest = {read.info.digest: read.info for read in reads if not read.is_index}
        missing = [d for read in reads if read.is_index for d in read.info.platforms if d not in by_digest]
        fetched = self._read_each(self.backend.describe_digests, missing, {}) if missing else {}
        markers = markers_by_stage(tags, digests)
        rows = []
        for read in reads:
            try:
                for digest in read.info.platforms:
                    if digest not in by_digest and digest not in fetched:
                        raise ValueError(f"its platform manifest {digest} cannot be read")
                read.platforms = [by_digest.get(d) or fetched[d] for d in read.info.platforms]
                row, labels = stage_row(self.repository, read, markers.get(read.stage))
            except ValueError as exc:  # its content cannot be used (see stage_row)
                unreadable[read.tag] = str(exc)
                continue
            if not labels.get(LABEL_PROJECT):
                kinds[read.tag] = Werf2RecordKind.FOREIGN.value  # not a werf stage: never deleted
                continue
            if (sign := older_format_sign(read.tag, labels)) is not None:
                signs.append({"tag": read.tag, "sign": sign})
            for digest in read.info.platforms if read.is_index else ():
                if digest in fetched and digest not in by_digest:
                    blobs += records.blob_rows(self.repository, read.tag, fetched[digest])
            rows.append(row)
        listed = {parse_stage_id(tag) for tag in tags}  # a stage tag that is there, whatever it holds
        rows += [orphan_marker_row(self.repository, stage, marker) for stage, marker in markers.items() if stage not in listed]
        return rows

    def _read_each(
        self, read: Callable[[str, Sequence[K]], dict[K, Described]], keys: Sequence[K], unreadable: dict
    ) -> dict[K, Described]:
        """``read(repository, keys)``; when one key's read fails for good, each key alone, so that
        one bad tag is unreadable and the others are read. Keys not found are unreadable too."""
        keys = list(keys)
        if not keys:
            return {}
        try:
            found = read(self.repository, keys)
        except RegistryAuthError:
            raise
        except _READ_ERRORS as exc:
            if getattr(exc, "retryable", False):
                raise
            log.debug("%s: a read failed (%s); reading each one alone", self.repository, exc)

            def one(key: K) -> Described | str | None:
                try:
                    return read(self.repository, [key]).get(key)
                except RegistryAuthError:
                    raise
                except _READ_ERRORS as error:
                    if getattr(error, "retryable", False):
                        raise
                    return str(error)

            answers = dict(zip(keys, self.backend.map(one, keys), strict=True))
            found = {key: answer for key, answer in answers.items() if isinstance(answer, Described)}
            unreadable.update({key: answer for key, answer in answers.items() if isinstance(answer, str)})
        for key in keys:
            if key not in found and key not in unreadable:
                unreadable[key] = "it vanished between listing and reading"
        return found

    # ------------------------------------------------------------------ deleting

    def delete_items(
        self, rows: Sequence[Mapping], parallel: int | None = None, leaving: Mapping[str, Collection[str]] | None = None
    ) -> list[DeleteResult]:
        """Delete DECISIONS rows (``repository, tag, digest, item_type``) of this repository, in
        the order of their item types; one result per row. ``leaving``: repository → every tag
        the plan deletes there; any other tag stays, and a tag whose manifest it shares is
        deleted by tag alone where the registry can, else kept (``shared-digest``)."""
        return delete_rows(
            self.backend,
            rows,
            parallel,
            lambda repository: repository == self.repository,
            f"the repository {self.repository}",
            leaving,
        )

    # ------------------------------------------------------------------ managed images, cleanup record

    def list_managed_images(self) -> pa.Table:
        """managed-image records (MANAGED_IMAGES_SCHEMA) from the tag list; nameless is ``""``."""
        tags = self.backend.list_tags(self.repository)
        digests = self.backend.listed_digests(self.repository) or {}
        return pa.Table.from_pylist(managed_rows(self.repository, tags, digests), schema=MANAGED_IMAGES_SCHEMA)

    def add_managed_image(self, name: str) -> str:
        """Write ``managed-image-<id>`` of ``name`` (``~``/``""``: nameless) as werf does; its digest."""
        return self._put(managed_image_record(self.project, name, unique_now_ns()))

    def rm_managed_image(self, name: str) -> DeleteResult:
        """Remove the managed-image record of ``name`` (``already-gone`` when absent)."""
        row = {
            "repository": self.repository,
            "tag": managed_image_tag(name),
            "digest": None,
            "item_type": ItemType.MANAGED_IMAGE.value,
        }
        return self.delete_items([row])[0]

    def write_cleanup_record(self, timestamp_ms: int) -> str:
        """Write werf's ``cleanup`` record (``lastcleanuptimestamp`` = ``timestamp_ms``); its digest."""
        return self._put(cleanup_record(self.project, timestamp_ms, unique_now_ns()))

    def _put(self, record: ManifestOnlyRecord) -> str:
        blobs = {record.config_digest: record.config, digest_of(record.layer): record.layer}
        return self.backend.put_manifest(self.repository, record.tag, record.manifest, DOCKER_MANIFEST, blobs)
