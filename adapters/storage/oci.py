"""An OCI image-layout directory (opencontainers image-spec ``image-layout.md``) as a tag store.

``oci:DIR`` holds ``oci-layout``, ``index.json`` and ``blobs/sha256/``; a tag is the
``org.opencontainers.image.ref.name`` annotation of an ``index.json`` descriptor. Writers take an
exclusive ``flock`` on ``DIR/oci-layout`` and replace ``index.json`` atomically (temp file +
rename), so concurrent processes and threads never lose each other's tags and readers never see
a half-written index. Deleting a tag removes its descriptor only (never another tag), then the
manifest, config and layer blobs nothing references any more.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from adapters.concurrency import parallel_map
from adapters.storage import base, codec
from adapters.storage.base import DeferredWrites, DeleteResult, Described
from adapters.storage.records import index_platforms
from adapters.storage.repo import DeleteItem, RepoBackend
from schemas.errors import StorageError
from schemas.vocab import Reason

T = TypeVar("T")
R = TypeVar("R")

SCHEME = "oci:"
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
SYNC_EACH_UP_TO = 64  # blobs per commit fsynced one by one; larger commits use one os.sync()
RESERVED_NAMES = {"blobs", LAYOUT_FILE, INDEX_FILE}
_DIGEST_RE = re.compile(r"sha256:([0-9a-f]{64})")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def is_oci_address(address: str) -> bool:
    return address.startswith(SCHEME)


def layout_path(repository: str) -> Path:
    """The directory of ``oci:DIR`` (relative paths are taken from the current directory)."""
    if not is_oci_address(repository) or len(repository) == len(SCHEME):
        raise StorageError(f"not an OCI layout address: {repository!r}", hint="write it as oci:DIR")
    return Path(repository[len(SCHEME) :])


class OciBackend(DeferredWrites, RepoBackend):
    """Tag store over OCI layout directories; a repository is ``oci:DIR``."""

    def __init__(self, parallel: int = 4) -> None:
        self.parallel = parallel
        self._init_deferred(dict)  # pending: {layout root: {tag: (descriptor, blobs)}}

    # ------------------------------------------------------------------ reading

    def list_tags(self, repository: str) -> list[str]:
        return list(self._tag_map(layout_path(repository)))

    def digests(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        current = self._tag_map(layout_path(repository))
        return {tag: current[tag]["digest"] for tag in tags if tag in current}

    def describe(self, repository: str, tags: Sequence[str]) -> dict[str, Described]:
        root = layout_path(repository)
        current = self._tag_map(root)
        wanted = [tag for tag in tags if tag in current]

        def one(tag: str) -> Described | None:
            digest = current[tag]["digest"]
            try:
                return self._read_manifest(root, digest)
            except FileNotFoundError:
                if tag not in self._tag_map(root):  # deleted meanwhile by another writer
                    return None
                raise StorageError(
                    f"OCI layout {root} is damaged: a blob of tag {tag!r} ({digest}) is missing",
                    hint="restore the directory or delete the tag from index.json",
                ) from None

        found = self.map(one, wanted)
        return {tag: info for tag, info in zip(wanted, found, strict=True) if info is not None}

    def describe_digests(self, repository: str, digests: Sequence[str]) -> dict[str, Described]:
        root = layout_path(repository)

        def one(digest: str) -> Described | None:
            try:
                return self._read_manifest(root, digest)
            except FileNotFoundError:
                return None

        digests = list(dict.fromkeys(digests))
        found = self.map(one, digests)
        return {digest: info for digest, info in zip(digests, found, strict=True) if info is not None}

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        return {tag: desc["digest"] for tag, desc in self._tag_map(layout_path(repository)).items()}

    def _read_manifest(self, root: Path, digest: str) -> Described:
        raw = self._read_blob(root, digest)
        manifest = json.loads(raw)
        if not isinstance(manifest, dict):
            raise StorageError(f"OCI layout {root}: the manifest {digest} is not a JSON object")
        blobs = base.manifest_blobs(digest, len(raw), manifest)
        config_digest = (manifest.get("config") or {}).get("digest")
        if not config_digest:
            return Described(digest, None, {}, blobs[:1], index_platforms(manifest))
        return Described(digest, config_digest, json.loads(self._read_blob(root, config_digest)), blobs)

    def _tag_map(self, root: Path) -> dict[str, dict]:
        """tag → descriptor; the last descriptor of a tag wins."""
        return {
            desc["annotations"][REF_NAME]: desc
            for desc in self._read_index(root)["manifests"]
            if (desc.get("annotations") or {}).get(REF_NAME)
        }

    def _read_index(self, root: Path) -> dict:
        try:
            text = (root / INDEX_FILE).read_text()
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        except OSError as exc:
            raise StorageError(f"cannot read {root / INDEX_FILE}: {exc.strerror}") from exc
        try:
            index = json.loads(text)
            if not isinstance(index.get("manifests", []), list):
                raise ValueError("manifests is not a list")
        except ValueError as exc:
            raise StorageError(f"{root / INDEX_FILE} is not a valid OCI index: {exc}") from exc
        index.setdefault("manifests", [])
        return index

    def _blob_path(self, root: Path, digest: str) -> Path:
        match = _DIGEST_RE.fullmatch(digest or "")
        if not match:
            raise StorageError(f"OCI layout {root}: unsupported or malformed digest {digest!r}")
        return root / "blobs" / "sha256" / match.group(1)

    def _read_blob(self, root: Path, digest: str) -> bytes:
        return self._blob_path(root, digest).read_bytes()

    # ------------------------------------------------------------------ writing

    def put_image(self, repository: str, tag: str, config: bytes) -> str:
        if not _TAG_RE.fullmatch(tag):
            raise StorageError(f"invalid tag {tag!r} for {repository}", hint="tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
        root = layout_path(repository)
        manifest = codec.image_manifest(config, codec.OCI_MEDIA_TYPES)
        digest = codec.digest_of(manifest)
        descriptor = {
            "mediaType": codec.OCI_MEDIA_TYPES.manifest,
            "digest": digest,
            "size": len(manifest),
            "annotations": {REF_NAME: tag},
        }
        blobs = {codec.digest_of(config): config, digest: manifest}
        with self._guard:
            if self._batch_depth:
                self._pending.setdefault(root, {})[tag] = (descriptor, blobs)
                return digest
        self._commit(root, {tag: (descriptor, blobs)})
        return digest

    def copy_tag(self, repository: str, tag: str, new_tag: str) -> str:
        if not _TAG_RE.fullmatch(new_tag):
            raise StorageError(f"invalid tag {new_tag!r} for {repository}")
        root = layout_path(repository)
        source = self._tag_map(root).get(tag)
        if source is None:
            raise StorageError(f"cannot copy {repository}:{tag}: no such tag")
        descriptor = dict(source, annotations={**(source.get("annotations") or {}), REF_NAME: new_tag})
        self._commit(root, {new_tag: (descriptor, {})})
        return descriptor["digest"]

    def put_manifest(
        self, repository: str, tag: str, manifest: bytes, media_type: str, blobs: Mapping[str, bytes] | None = None
    ) -> str:
        if not _TAG_RE.fullmatch(tag):
            raise StorageError(f"invalid tag {tag!r} for {repository}", hint="tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
        root = layout_path(repository)
        digest = codec.digest_of(manifest)
        descriptor = {"mediaType": media_type, "digest": digest, "size": len(manifest), "annotations": {REF_NAME: tag}}
        written = {codec.digest_of(data): data for data in (blobs or {}).values()}
        written[digest] = manifest
        with self._guard:
            if self._batch_depth:
                self._pending.setdefault(root, {})[tag] = (descriptor, written)
                return digest
        self._commit(root, {tag: (descriptor, written)})
        return digest

    def _flush(self, pending: dict[Path, dict[str, tuple[dict, dict[str, bytes]]]]) -> None:
        """Writes of a ``batch()`` block reach each ``index.json`` in one locked update."""
        for root, records in pending.items():
            self._commit(root, records)

    def _commit(self, root: Path, records: dict[str, tuple[dict, dict[str, bytes]]]) -> None:
        with self._locked(root, create=True):
            blobs = [(digest, data) for _, record_blobs in records.values() for digest, data in record_blobs.items()]
            # Blobs reach the disk before the index that names them: fsync each of a few, or one
            # system-wide sync for a large batch (much cheaper than thousands of fsyncs).
            durable = len(blobs) <= SYNC_EACH_UP_TO
            written = self.map(lambda blob: self._write_blob(root, *blob, durable=durable), blobs)
            if any(written) and not durable:
                os.sync()
            index = self._read_index(root)
            replaced = set()
            kept = []
            for desc in index["manifests"]:
                if (desc.get("annotations") or {}).get(REF_NAME) in records:
                    replaced.add(desc["digest"])
                else:
                    kept.append(desc)
            kept.extend(descriptor for descriptor, _ in records.values())
            index["manifests"] = kept
            self._write_index(root, index)
            self._collect_garbage(root, kept, replaced)

    def _write_blob(self, root: Path, digest: str, data: bytes, *, durable: bool) -> bool:
        path = self._blob_path(root, digest)
        if path.exists():
            return False
        self._atomic_write(path, data, durable=durable)
        return True

    def _write_index(self, root: Path, index: dict) -> None:
        index.setdefault("schemaVersion", 2)
        index.setdefault("mediaType", INDEX_MEDIA_TYPE)
        self._atomic_write(root / INDEX_FILE, json.dumps(index, separators=(",", ":")).encode())

    @staticmethod
    def _atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _locked(self, root: Path, *, create: bool) -> Iterator[None]:
        layout = root / LAYOUT_FILE
        if create and not layout.exists():
            try:
                (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
                self._atomic_write(layout, json.dumps(LAYOUT_VERSION).encode())
            except OSError as exc:
                raise StorageError(
                    f"cannot create the OCI layout {root}: {exc.strerror}",
                    hint="check that the directory is writable",
                ) from exc
        with open(layout, "rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------ deleting

    def delete(
        self,
        repository: str,
        phases: Sequence[Sequence[DeleteItem]],
        parallel: int | None,
        leaving: Collection[str] | None = None,
    ) -> list[list[DeleteResult]]:
        root = layout_path(repository)  # a layout removes one descriptor: ``leaving`` is not needed
        answers: list[list[DeleteResult | None]] = [[None] * len(phase) for phase in phases]
        if not (root / LAYOUT_FILE).exists():
            return [[base.already_gone(repository, tag) for tag, _ in phase] for phase in phases]
        with self._locked(root, create=False):
            index = self._read_index(root)
            current = {(desc.get("annotations") or {}).get(REF_NAME): desc["digest"] for desc in index["manifests"]}
            removed_tags: set[str] = set()
            for p, phase in enumerate(phases):
                for i, (tag, expected) in enumerate(phase):
                    digest = None if tag in removed_tags else current.get(tag)
                    if digest is None:
                        answers[p][i] = base.already_gone(repository, tag)
                    elif expected and digest != expected:
                        answers[p][i] = base.kept(
                            repository,
                            tag,
                            Reason.TAG_MOVED.value,
                            f"the tag moved from {expected} to {digest} since the plan; it was not deleted",
                        )
                    else:
                        removed_tags.add(tag)
                        answers[p][i] = base.deleted(repository, tag)
            if removed_tags:
                kept, dropped = [], set()
                for desc in index["manifests"]:
                    if (desc.get("annotations") or {}).get(REF_NAME) in removed_tags:
                        dropped.add(desc["digest"])
                    else:
                        kept.append(desc)
                index["manifests"] = kept
                try:
                    self._write_index(root, index)
                except OSError as exc:
                    error = f"cannot write {root / INDEX_FILE}: {exc.strerror}"
                    return [
                        [
                            base.failed(repository, a.tag, error, retryable=True) if a.outcome == "deleted" else a
                            for a in phase_answers
                        ]
                        for phase_answers in answers
                    ]
                self._collect_garbage(root, kept, dropped)
        return answers  # type: ignore[return-value]

    def _collect_garbage(self, root: Path, remaining: list[dict], candidates: set[str]) -> None:
        """Remove blobs of the ``candidates`` manifests that no ``remaining`` descriptor references."""
        candidates = candidates - {desc["digest"] for desc in remaining}
        if not candidates:
            return
        referenced: set[str] = set()
        for desc in remaining:
            referenced |= self._blobs_of(root, desc["digest"])
        for digest in candidates:
            for blob in self._blobs_of(root, digest) - referenced:
                self._blob_path(root, blob).unlink(missing_ok=True)

    def _blobs_of(self, root: Path, digest: str) -> set[str]:
        """A manifest or index and every blob it references (recursively)."""
        found = {digest}
        try:
            document = json.loads(self._read_blob(root, digest))
        except (FileNotFoundError, ValueError):
            return found
        if (document.get("config") or {}).get("digest"):
            found.add(document["config"]["digest"])
        found.update(layer["digest"] for layer in document.get("layers") or [] if layer.get("digest"))
        for child in document.get("manifests") or []:
            if child.get("digest"):
                found |= self._blobs_of(root, child["digest"])
        return found

    # ------------------------------------------------------------------ concurrency

    def map(self, fn: Callable[[T], R], items: Sequence[T], parallel: int | None = None) -> list[R]:
        return parallel_map(fn, items, parallel or self.parallel)


def check_image_path(image_name: str) -> None:
    """An image name must not collide with the files of the layout holding the nameless image."""
    first = image_name.split("/", 1)[0]
    if first in RESERVED_NAMES:
        raise StorageError(
            f"image name {image_name!r} cannot be stored in a multirepo oci: images repo: {first!r} is a file of the OCI layout",
            hint="rename the image or use --images-repo-mode monorepo",
        )
