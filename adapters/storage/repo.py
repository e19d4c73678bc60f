"""Stages storage and images repo on top of a tag store (a registry or an OCI layout directory).

:class:`RepoBackend` is the narrow interface both stores implement; :class:`RepoStagesStorage`
and :class:`ImagesRepo` add the werf v1.1 layout on top of it.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import pyarrow as pa

from adapters.storage import base, codec, newer_format
from adapters.storage.base import DeleteResult, Described, Entry, StagesStorage, ordered_phases, to_utc
from schemas.tables import BLOBS_SCHEMA, IMAGE_TAGS_SCHEMA, NEWER_FORMAT_SIGNS_SCHEMA
from schemas.vocab import ImagesRepoMode

T = TypeVar("T")
R = TypeVar("R")

#: One delete request handed to a backend: (tag, expected digest or None).
DeleteItem = tuple[str, str | None]


class RepoBackend(ABC):
    """A store of tagged images addressed as ``repository:tag``."""

    @abstractmethod
    def list_tags(self, repository: str) -> list[str]:
        """All tags of ``repository``; ``[]`` when the repository does not exist."""

    @abstractmethod
    def describe(self, repository: str, tags: Sequence[str]) -> dict[str, Described]:
        """Manifest digest, image id and config of each tag (concurrently); vanished tags are absent."""

    @abstractmethod
    def digests(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        """Manifest digest of each tag; vanished tags are absent."""

    @abstractmethod
    def put_image(self, repository: str, tag: str, config: bytes) -> str:
        """Store a manifest-only image (no layers) with ``config``; return the manifest digest."""

    @abstractmethod
    def copy_tag(self, repository: str, tag: str, new_tag: str) -> str:
        """Point ``new_tag`` at the manifest of ``tag`` (``docker tag`` + push); return the digest."""

    def put_manifest(
        self, repository: str, tag: str, manifest: bytes, media_type: str, blobs: Mapping[str, bytes] | None = None
    ) -> str:
        """Store ``blobs`` (digest → bytes), then ``manifest`` byte for byte as ``tag``; return its
        digest. The manifest may be an image index whose manifests are stored already."""
        raise NotImplementedError(f"{type(self).__name__} cannot store a manifest as given")

    def describe_digests(self, repository: str, digests: Sequence[str]) -> dict[str, Described]:
        """Like :meth:`describe`, for manifests named by digest (an index's platforms); absent
        ones are left out."""
        raise NotImplementedError(f"{type(self).__name__} cannot read manifests by digest")

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Every tag's manifest digest where the store lists them with its tags (an OCI layout's
        ``index.json``, a vendor's listing), without a request per tag; None where it does not."""
        return None

    @abstractmethod
    def delete(
        self,
        repository: str,
        phases: Sequence[Sequence[DeleteItem]],
        parallel: int | None,
        leaving: Collection[str] | None = None,
    ) -> list[list[DeleteResult]]:
        """Delete tags phase by phase, never removing a tag outside the request; results per item.

        ``leaving``: every tag of ``repository`` the plan deletes (None: unknown); the other tags
        stay, and a tag whose digest one of them shares is kept."""

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Sequence[T], parallel: int | None = None) -> list[R]:
        """``[fn(item) ...]`` run concurrently, in order; the first exception is raised."""

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Inside the block, each repository's tag list is read once."""
        yield

    def close(self) -> None:
        """Release connections and worker threads."""


def delete_rows(
    backend: RepoBackend,
    rows: Sequence[Mapping],
    parallel: int | None,
    owns: Callable[[str], bool],
    storage: str,
    leaving: Mapping[str, Collection[str]] | None = None,
) -> list[DeleteResult]:
    """Run delete rows through ``backend``, per repository, keeping the item-type order of ``rows``.

    A row naming a repository that is not part of ``storage`` fails without touching anything.
    """
    results: list[DeleteResult | None] = [None] * len(rows)
    by_repository: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        repository = str(row["repository"])
        if owns(repository):
            by_repository.setdefault(repository, []).append(index)
        else:
            results[index] = base.failed(
                repository, str(row["tag"]), f"{repository} is not part of {storage}; nothing was deleted", False
            )
    for repository, indexes in by_repository.items():
        phases = [[indexes[i] for i in phase] for phase in ordered_phases([rows[i] for i in indexes])]
        items = [[(str(rows[i]["tag"]), rows[i].get("digest") or None) for i in phase] for phase in phases]
        planned = None if leaving is None or repository not in leaving else frozenset(leaving[repository])
        answers = backend.delete(repository, items, parallel, planned)
        for phase, phase_answers in zip(phases, answers, strict=True):
            for index, answer in zip(phase, phase_answers, strict=True):
                results[index] = answer
    return [result for result in results if result is not None]


class RepoStagesStorage(StagesStorage):
    """All records are tags of one repository (``HOST/PATH`` or ``oci:DIR``)."""

    def __init__(self, backend: RepoBackend, address: str, project: str) -> None:
        super().__init__(address, project)
        self.backend = backend
        self.repository = address

    def close(self) -> None:
        self.backend.close()

    def _entries(self) -> list[Entry]:
        return [Entry(self.repository, tag, tag) for tag in self.backend.list_tags(self.repository)]

    def _describe(self, entries: Sequence[Entry]) -> dict[Entry, Described]:
        by_tag = {entry.tag: entry for entry in entries}
        found = self.backend.describe(self.repository, list(by_tag))
        return {by_tag[tag]: info for tag, info in found.items()}

    def _digests(self, entries: Sequence[Entry]) -> dict[Entry, str]:
        by_tag = {entry.tag: entry for entry in entries}
        found = self.backend.digests(self.repository, list(by_tag))
        return {by_tag[tag]: digest for tag, digest in found.items()}

    def _location(self, record_tag: str) -> tuple[str, str]:
        return self.repository, record_tag

    def _put(self, repository: str, tag: str, config: bytes) -> str:
        return self.backend.put_image(repository, tag, config)

    def _copy(self, repository: str, tag: str, new_tag: str) -> str:
        return self.backend.copy_tag(repository, tag, new_tag)

    def delete_items(
        self, rows: Sequence[Mapping], parallel: int | None = None, leaving: Mapping[str, Collection[str]] | None = None
    ) -> list[DeleteResult]:
        return delete_rows(self.backend, rows, parallel, lambda repository: repository == self.repository, self.address, leaving)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        with self.backend.batch():
            yield

    @contextlib.contextmanager
    def listing(self) -> Iterator[None]:
        with self.backend.snapshot():
            yield


class ImagesRepo:
    """The images repo ``I`` in multirepo (``I/X:T``) or monorepo (``I:X-T``) mode."""

    def __init__(
        self,
        backend: RepoBackend,
        address: str,
        project: str,
        mode: str = "multirepo",
        name_check: Callable[[str], None] | None = None,
    ) -> None:
        self.backend = backend
        self._name_check = name_check
        self.address = address
        self.project = project
        self.mode = ImagesRepoMode(mode).value

    def __repr__(self) -> str:
        return f"ImagesRepo({self.address!r}, mode={self.mode!r})"

    def close(self) -> None:
        """Release connections and worker threads."""
        self.backend.close()

    def __enter__(self) -> ImagesRepo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def repository_of(self, image_name: str) -> str:
        """The repository holding the tags of ``image_name``."""
        name = codec.validate_image_name(image_name)
        if name and self._name_check is not None:
            self._name_check(name)
        codec.images_repo_tag(self.mode, name, "latest")  # monorepo: the name must fit in a tag
        return codec.images_repo_repository(self.address, self.mode, name)

    def location(self, image_name: str, tag: str) -> tuple[str, str]:
        """(repository, tag) of meta tag ``tag`` of ``image_name``."""
        return self.repository_of(image_name), codec.images_repo_tag(self.mode, image_name, tag)

    def _candidate_tags(self, image_name: str, tags: Iterable[str]) -> list[str]:
        if self.mode == ImagesRepoMode.MONOREPO.value and image_name:
            return [tag for tag in tags if tag.startswith(f"{image_name}-")]
        return list(tags)

    def list_image_tags(self, image_names: Iterable[str]) -> pa.Table:
        """werf tags of ``image_names`` (IMAGE_TAGS_SCHEMA); foreign tags are left out."""
        return self.list_image_tags_and_blobs(image_names)[0]

    def list_image_tags_and_blobs(self, image_names: Iterable[str]) -> tuple[pa.Table, pa.Table]:
        """werf tags of ``image_names`` (IMAGE_TAGS_SCHEMA) and the blobs of every tag read on the
        way, foreign tags too (BLOBS_SCHEMA): they stay, so what they reference is not freed."""
        tags, blobs, _ = self.read_image_tags(image_names)
        return tags, blobs

    def read_image_tags(self, image_names: Iterable[str]) -> tuple[pa.Table, pa.Table, pa.Table]:
        """:meth:`list_image_tags_and_blobs`, and the signs of werf 1.2+ content among the tags
        read (NEWER_FORMAT_SIGNS_SCHEMA): its service records, and stages werf 1.2+ built."""
        names = list(dict.fromkeys(codec.validate_image_name(name) for name in image_names))
        jobs = []
        tags_by_repository: dict[str, list[str]] = {}
        for name in names:
            repository = self.repository_of(name)
            if repository not in tags_by_repository:
                tags_by_repository[repository] = self.backend.list_tags(repository)
            jobs.append((name, repository, self._candidate_tags(name, tags_by_repository[repository])))
        described = [self.backend.describe(repository, tags) for _, repository, tags in jobs]
        rows = []
        blobs: list[dict] = []
        signs = [
            {"repository": repository, "tag": tag, "sign": sign}
            for repository, tags in tags_by_repository.items()
            for tag in tags
            if (sign := newer_format.record_sign(tag)) is not None
        ]
        for (name, repository, _), found in zip(jobs, described, strict=True):
            for tag, info in sorted(found.items()):
                blobs += base.blob_rows(repository, tag, info)
                if (sign := newer_format.image_sign(info.labels)) is not None:
                    signs.append({"repository": repository, "tag": tag, "sign": sign})
                if not codec.is_werf_image(info.labels, self.mode, name):
                    continue
                rows.append(
                    {
                        "image_name": name,
                        "repository": repository,
                        "tag": tag,
                        "digest": info.digest,
                        "content_signature": info.labels.get(codec.LABEL_CONTENT_SIGNATURE),
                        "parent_id": codec.parent_id(info.config),
                        "created": codec.created_at(info.config),
                        "size_bytes": info.size_bytes,
                    }
                )
        return (
            pa.Table.from_pylist(rows, schema=IMAGE_TAGS_SCHEMA),
            pa.Table.from_pylist(blobs, schema=BLOBS_SCHEMA),
            pa.Table.from_pylist(signs, schema=NEWER_FORMAT_SIGNS_SCHEMA),
        )

    def newer_format_records(self, repository: str) -> pa.Table:
        """The werf 1.2+ service records among the tags of ``repository`` (NEWER_FORMAT_SIGNS_SCHEMA)."""
        rows = [
            {"repository": repository, "tag": tag, "sign": sign}
            for tag in self.backend.list_tags(repository)
            if (sign := newer_format.record_sign(tag)) is not None
        ]
        return pa.Table.from_pylist(rows, schema=NEWER_FORMAT_SIGNS_SCHEMA)

    def list_all_tag_digests(self, image_name: str) -> dict[str, str]:
        """tag → digest of every tag (werf or foreign) in the repository of ``image_name``."""
        repository = self.repository_of(image_name)
        return self.backend.digests(repository, self.backend.list_tags(repository))

    def delete_items(
        self, rows: Sequence[Mapping], parallel: int | None = None, leaving: Mapping[str, Collection[str]] | None = None
    ) -> list[DeleteResult]:
        """Delete images-repo tags; one result per row, same order (see StagesStorage.delete_items)."""
        return delete_rows(self.backend, rows, parallel, self._owns, f"the images repo {self.address}", leaving)

    def _owns(self, repository: str) -> bool:
        if self.mode == ImagesRepoMode.MULTIREPO.value:
            return repository == self.address or repository.startswith(f"{self.address}/")
        return repository == self.address

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        with self.backend.batch():
            yield

    def end_image_config(
        self,
        image_name: str,
        tag: str,
        content_signature: str,
        last_stage_image_id: str,
        created: datetime | None = None,
        tag_strategy: str = "git-branch",
        base_labels: Mapping[str, str] | None = None,
    ) -> tuple[str, str, bytes]:
        """(repository, stored tag, config) of an end image (see :meth:`write_end_image`)."""
        repository, stored = self.location(image_name, tag)
        labels = dict(base_labels or {})
        labels.update(
            codec.end_image_labels(image_name, tag, content_signature, f"{repository}:{stored}", tag_strategy=tag_strategy)
        )
        when = to_utc(created) or datetime.now(UTC)
        return repository, stored, codec.image_config(labels, when, parent=last_stage_image_id)

    def write_end_image(
        self,
        image_name: str,
        tag: str,
        content_signature: str,
        last_stage_image_id: str,
        created: datetime | None = None,
        tag_strategy: str = "git-branch",
        base_labels: Mapping[str, str] | None = None,
    ) -> str:
        """Publish meta tag ``tag`` of ``image_name``; return the manifest digest.

        ``base_labels`` (typically the last stage's labels) are kept under the end-image labels,
        as an image built from the last stage inherits them.
        """
        repository, stored, config = self.end_image_config(
            image_name, tag, content_signature, last_stage_image_id, created, tag_strategy, base_labels
        )
        return self.backend.put_image(repository, stored, config)

    def copy_tag(self, image_name: str, stored_tag: str, new_raw_tag: str) -> str:
        """Give the manifest of ``stored_tag`` a second tag in the repository of ``image_name``
        (what ``docker tag`` + ``docker push`` does); return the shared digest."""
        return self.backend.copy_tag(self.repository_of(image_name), stored_tag, new_raw_tag)

    def write_foreign_tag(
        self, image_name: str, raw_tag: str, labels: Mapping[str, str] | None = None, created: datetime | None = None
    ) -> str:
        """Store a non-werf image as ``raw_tag`` in the repository of ``image_name``."""
        when = to_utc(created) or codec.unique_now_ns()
        config = codec.image_config(labels or {"org.opencontainers.image.title": "foreign"}, when)
        return self.backend.put_image(self.repository_of(image_name), raw_tag, config)
