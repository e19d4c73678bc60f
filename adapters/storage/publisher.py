"""Write realistic werf v1.1 content: stage chains, end images, metadata, managed images, markers.

The demo, the tests and the benchmarks describe what a CI would have built and published::

    with Publisher(stages, images) as pub:
        app = pub.build("app", built_at=t0, n_stages=3)
        pub.publish(app, "main", commit=sha)           # end-image tag + metadata record
        hotfix = pub.build("app", built_at=t1, base=app, reuse=2)   # shares 2 stages with app
        pub.reject(hotfix.stages[-1])

Image ids are computed locally (they are config digests), so every write is independent. Inside
a ``with`` block writes run concurrently and the storages batch them (one ``index.json`` update
for an OCI layout, one ``docker load`` for ``:local``); leaving the block waits for all of them.
Outside a ``with`` block each call writes before it returns. Records are manifest-only images
(no layer blobs), so parallel registry pushes share no blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from adapters.storage import codec
from adapters.storage.base import StagesStorage, to_utc
from adapters.storage.repo import ImagesRepo
from schemas.errors import StorageError


@dataclass(frozen=True)
class BuiltStage:
    signature: str
    unique_id: int
    image_id: str
    parent_id: str
    created: datetime

    @property
    def tag(self) -> str:
        return codec.format_stage_tag(self.signature, self.unique_id)


@dataclass(frozen=True)
class BuiltImage:
    """An image as built into the stages storage: its stage chain and content signature."""

    image_name: str
    content_signature: str
    stages: tuple[BuiltStage, ...]
    labels: dict[str, str] = field(compare=False)  # the last stage's labels

    @property
    def last_image_id(self) -> str:
        return self.stages[-1].image_id

    @property
    def stage_tags(self) -> list[str]:
        return [stage.tag for stage in self.stages]

    @property
    def built_at(self) -> datetime:
        return self.stages[-1].created


@dataclass(frozen=True)
class PublishedTag:
    image_name: str
    repository: str
    tag: str  # as stored (``X-T`` in monorepo)
    content_signature: str
    commit: str | None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def base_image_id(image_name: str) -> str:
    """The id of the (outside) base image a chain starts from."""
    return codec.digest_of(f"base-image:{image_name}".encode())


class Publisher:
    """Writes builds and publications of a project into a stages storage and an images repo."""

    def __init__(
        self,
        stages: StagesStorage,
        images: ImagesRepo | None = None,
        *,
        parallel: int = 8,
        stage_interval: timedelta = timedelta(seconds=1),
    ) -> None:
        self.stages = stages
        self.images = images
        self.project = stages.project
        self.parallel = parallel
        self.stage_interval = stage_interval
        self._counter = itertools.count()
        self._stack: contextlib.ExitStack | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._lock = threading.Lock()
        self._recorded: set[tuple[str, str, str]] = set()

    # ------------------------------------------------------------------ execution

    def __enter__(self) -> Publisher:
        stack = contextlib.ExitStack()
        stack.enter_context(self.stages.batch())
        if self.images is not None:
            stack.enter_context(self.images.batch())
        self._stack = stack
        self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="publisher")
        return self

    def __exit__(self, *exc_info: object) -> None:
        stack, pool = self._stack, self._pool
        self._stack = self._pool = None
        try:
            self.flush()
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            if stack is not None:
                stack.close()

    def _submit(self, fn: Callable[..., object], *args: object) -> None:
        if self._pool is None:
            fn(*args)
            return
        future = self._pool.submit(fn, *args)
        with self._lock:
            self._futures.append(future)

    def flush(self) -> None:
        """Wait for the writes submitted so far; raise the first failure."""
        with self._lock:
            futures, self._futures = self._futures, []
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------ stages storage

    def _signature(self, *parts: object) -> str:
        text = "/".join(str(part) for part in (self.project, *parts, next(self._counter)))
        return hashlib.sha3_224(text.encode()).hexdigest()

    def build(
        self,
        image_name: str,
        *,
        built_at: datetime,
        n_stages: int = 3,
        imports: Sequence[BuiltImage] = (),
        base: BuiltImage | None = None,
        reuse: int = 0,
    ) -> BuiltImage:
        """Build ``image_name``: a chain of ``n_stages`` stages, the last one done at ``built_at``.

        ``base``/``reuse``: the first ``reuse`` stages are taken from an earlier build (a cache
        hit) and not written again. ``imports``: the last stage gets a ``werf-import-<slug>``
        label naming each source's last stage.
        """
        name = codec.validate_image_name(image_name)
        built_at = to_utc(built_at)
        if n_stages < 1:
            raise ValueError("an image has at least one stage")
        if reuse and (base is None or reuse > len(base.stages) or reuse > n_stages):
            raise ValueError("reuse needs a base build with at least that many stages")
        chain: list[BuiltStage] = list(base.stages[:reuse]) if base is not None else []
        parent = chain[-1].image_id if chain else base_image_id(name)
        content_signature = self._signature(name, "content", built_at.isoformat())
        labels: dict[str, str] = {}
        for index in range(len(chain), n_stages):
            created = built_at - self.stage_interval * (n_stages - 1 - index)
            signature = self._signature(name, index, created.isoformat())
            unique_id = (created - EPOCH) // timedelta(milliseconds=1)
            extra: dict[str, str] = {}
            if index == n_stages - 1:
                extra[codec.LABEL_STAGE_CONTENT_SIGNATURE] = content_signature
                for source in imports:
                    extra[codec.LABEL_IMPORT_PREFIX + codec.slug_image_name(source.image_name)] = source.last_image_id
            config = self.stages.stage_config(signature, unique_id, parent, extra, created)
            image_id = codec.image_id(config)
            self._submit(self.stages.write_stage, signature, unique_id, parent, extra, created)
            chain.append(BuiltStage(signature, unique_id, image_id, parent, created))
            labels = codec.config_labels(json.loads(config))
            parent = image_id
        if not labels:  # everything reused
            content_signature = base.content_signature if base is not None else content_signature
            labels = dict(base.labels) if base is not None else {}
        return BuiltImage(name, content_signature, tuple(chain), labels)

    def reject(self, stage: BuiltStage) -> str:
        """Mark ``stage`` broken (``<sig>-<uid>-rejected``); return the marker tag."""
        self._submit(self.stages.write_rejected_marker, stage.signature, stage.unique_id)
        return codec.rejected_marker_tag(stage.signature, stage.unique_id)

    def record_commit(self, built: BuiltImage, commit: str, created: datetime | None = None) -> str:
        """Write the metadata record binding ``commit`` to the build's content signature
        (once per publisher: publishing several tags of one commit writes one record)."""
        key = (built.image_name, commit, built.content_signature)
        with self._lock:
            if key in self._recorded and created is None:
                return codec.metadata_tag(built.image_name, commit)
            self._recorded.add(key)
        self._submit(self.stages.write_metadata, built.image_name, commit, built.content_signature, created)
        return codec.metadata_tag(built.image_name, commit)

    def manage(self, image_name: str) -> str:
        """Write the managed-image record of ``image_name``."""
        self._submit(self.stages.write_managed_image, codec.validate_image_name(image_name))
        return codec.managed_image_tag(image_name)

    # ------------------------------------------------------------------ images repo

    def _images(self) -> ImagesRepo:
        if self.images is None:
            raise StorageError("this publisher has no images repo")
        return self.images

    def publish(
        self,
        built: BuiltImage,
        tag: str,
        commit: str | None = None,
        *,
        tag_strategy: str = "git-branch",
        created: datetime | None = None,
    ) -> PublishedTag:
        """Publish meta tag ``tag`` of the build and, with ``commit``, its metadata record."""
        images = self._images()
        repository, stored = images.location(built.image_name, tag)
        self._submit(
            images.write_end_image,
            built.image_name,
            tag,
            built.content_signature,
            built.last_image_id,
            created or built.built_at,
            tag_strategy,
            built.labels,
        )
        if commit is not None:
            self.record_commit(built, commit)
        return PublishedTag(built.image_name, repository, stored, built.content_signature, commit)

    def foreign(self, image_name: str, raw_tag: str, labels: dict[str, str] | None = None) -> str:
        """Push a non-werf image as ``raw_tag`` into the repository of ``image_name``."""
        self._submit(self._images().write_foreign_tag, image_name, raw_tag, labels)
        return raw_tag


def at(text: str) -> datetime:
    """``at("2024-05-01T10:00")``: an aware UTC datetime, for readable test data."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
