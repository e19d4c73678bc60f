"""Write realistic werf 1.2 / 2.x content into one repository (SPEC §13.2): stage chains, meta
records, custom tags with their metadata, managed images, rejected stages, import metadata.

The demo and the benchmarks describe what werf 2.x's CI would have built::

    with Werf2Publisher(backend, "oci:/tmp/repo", "acme") as pub:
        app = pub.build("app", built_at=t0, n_stages=3)
        pub.publish(app, commit=sha)              # meta-<id>_<commit>_<stageID>
        pub.custom_tag(app, "v1.0.0")             # the custom tag and custom-tag-meta-v1.0.0
        fix = pub.build("app", built_at=t1, base=app, reuse=2)  # shares 2 stages with app

Stages are manifest-only images whose config carries werf's labels (`werf`, `werf-version`,
`werf-stage-content-digest`, `werf.io/parent-stage-id`, config `Image`); records are manifest-only
images with werf's labels. Inside a ``with`` block writes run concurrently and an OCI layout
takes them in one ``index.json`` update; leaving the block waits for all of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.storage.imageconfig import digest_of, image_config
from adapters.storage.werf2_codec import (
    custom_tag_metadata_tag,
    format_stage_id,
    import_metadata_tag,
    managed_image_tag,
    meta_tag,
    parse_stage_id,
    rejected_marker_tag,
)
from adapters.storage.werf2_labels import (
    LABEL_CUSTOM_TAG,
    LABEL_CUSTOM_TAG_STAGE_ID,
    LABEL_IMPORT_CHECKSUM,
    LABEL_IMPORT_SOURCE_ID,
    LABEL_IMPORT_SOURCE_STAGE_ID,
    LABEL_IMPORT_SOURCE_STAGE_ID_PREFIX,
    LABEL_PARENT_STAGE_ID,
    LABEL_PROJECT,
    LABEL_STAGE_CONTENT_DIGEST,
    LABEL_VERSION,
)

WERF_VERSION = "v2.77.1"


@dataclass(frozen=True)
class Werf2Stage:
    stage_id: str
    image_id: str
    created: datetime
    config: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class Werf2Image:
    """An image as werf 2.x builds it: a chain of stages; the last one is what people deploy."""

    name: str
    stages: tuple[Werf2Stage, ...]

    @property
    def stage_id(self) -> str:
        return self.stages[-1].stage_id


class Werf2Publisher:
    """Writes through a storage backend (`adapters.storage.repo.RepoBackend`) into `repository`."""

    def __init__(self, backend: Any, repository: str, project: str, *, parallel: int = 16) -> None:
        self.backend = backend
        self.repository = repository
        self.project = project
        self._counter = itertools.count()
        #: makes this publisher's stage digests its own (two publishers never build the same stage)
        self._salt = os.urandom(8).hex()
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._parallel = parallel
        self._batch: contextlib.ExitStack | None = None
        #: tags pointed at stages written in the same block: copied once the stages are stored
        self._copies: list[tuple[str, str]] = []
        #: config digest → the write that uploads it first
        self._blobs: dict[str, Future] = {}

    def __enter__(self) -> Werf2Publisher:
        self._batch = contextlib.ExitStack()
        self._batch.enter_context(self.backend.batch())
        self._pool = ThreadPoolExecutor(self._parallel, thread_name_prefix="werf2-publish")
        return self

    def __exit__(self, *exc_info: object) -> None:
        pool, self._pool = self._pool, None
        try:
            if pool is not None:
                pool.shutdown(wait=True)
            for future in self._futures:
                future.result()
        finally:
            self._futures = []
            if self._batch is not None:
                self._batch.close()
                self._batch = None
        copies, self._copies = self._copies, []
        for source, tag in copies:
            self.backend.copy_tag(self.repository, source, tag)

    def _copy(self, source: str, tag: str) -> None:
        if self._pool is None:
            self.backend.copy_tag(self.repository, source, tag)
        else:
            self._copies.append((source, tag))

    # ------------------------------------------------------------------ writes

    def _write(self, fn: Any, *args: Any) -> None:
        if self._pool is None:
            fn(*args)
        else:
            self._futures.append(self._pool.submit(fn, *args))

    def _put(self, tag: str, config: bytes) -> None:
        # two records with the same config (same labels, same time) share its blob: a registry
        # may answer 500 to two concurrent uploads of one blob, so the second waits for the first
        digest = digest_of(config)
        earlier = self._blobs.get(digest)
        if self._pool is None:
            self.backend.put_image(self.repository, tag, config)
            return

        def put() -> None:
            if earlier is not None:
                earlier.result()
            self.backend.put_image(self.repository, tag, config)

        future = self._pool.submit(put)
        self._blobs[digest] = future
        self._futures.append(future)

    def _record(self, tag: str, labels: dict[str, str], created: datetime) -> None:
        self._put(tag, image_config({LABEL_PROJECT: self.project, **labels}, created))

    def build(
        self,
        name: str,
        *,
        built_at: datetime,
        n_stages: int = 3,
        base: Werf2Image | None = None,
        reuse: int = 0,
        imports_from: Werf2Image | None = None,
    ) -> Werf2Image:
        """`n_stages` stages of `name`, the first `reuse` of them `base`'s (no new write)."""
        stages: list[Werf2Stage] = list(base.stages[:reuse]) if base is not None else []
        built_at = built_at.astimezone(UTC)
        for step in range(len(stages), n_stages):
            seed = f"{self.project}/{name}/{step}/{self._salt}/{next(self._counter)}"
            digest = hashlib.sha3_224(seed.encode()).hexdigest()
            created = built_at + timedelta(seconds=step)
            stage_id = format_stage_id(digest, int(created.timestamp() * 1000))
            labels = {
                LABEL_PROJECT: self.project,
                LABEL_VERSION: WERF_VERSION,
                LABEL_STAGE_CONTENT_DIGEST: digest,
            }
            parent = stages[-1] if stages else None
            if parent is not None:
                labels[LABEL_PARENT_STAGE_ID] = parent.stage_id
            if imports_from is not None and step == n_stages - 1:
                source_id = hashlib.sha256(f"{name}<-{imports_from.name}".encode()).hexdigest()[:56]
                labels[LABEL_IMPORT_SOURCE_STAGE_ID_PREFIX + source_id] = imports_from.stage_id
            config = image_config(labels, created, parent.image_id if parent else None)
            self._put(stage_id, config)
            stages.append(Werf2Stage(stage_id, digest_of(config), created, config))
        return Werf2Image(name, tuple(stages))

    def final(self, image: Werf2Image, backend: Any, repository: str) -> str:
        """The image's last stage copied to the final repository (werf's `--final-repo`), by stage ID."""
        stage = image.stages[-1]
        self._write(backend.put_image, repository, stage.stage_id, stage.config)
        return stage.stage_id

    def publish(self, image: Werf2Image, commit: str) -> str:
        """The meta record werf writes when it builds `image` at `commit`."""
        tag = meta_tag(image.name, commit, image.stage_id)
        self._record(tag, {}, image.stages[-1].created)
        return tag

    def custom_tag(self, image: Werf2Image, tag: str) -> str:
        """`tag` on the image's last stage, and its `custom-tag-meta-…` record."""
        self._copy(image.stage_id, tag)
        record = custom_tag_metadata_tag(tag)
        self._record(record, {LABEL_CUSTOM_TAG_STAGE_ID: image.stage_id, LABEL_CUSTOM_TAG: tag}, image.stages[-1].created)
        return record

    def manage(self, name: str) -> str:
        tag = managed_image_tag(name)
        self._record(tag, {}, datetime.now(UTC))
        return tag

    def reject(self, stage: Werf2Stage) -> str:
        tag = rejected_marker_tag(parse_stage_id(stage.stage_id))
        self._record(tag, {}, stage.created)
        return tag

    def import_metadata(self, source: Werf2Image, import_source_id: str, checksum: str) -> str:
        tag = import_metadata_tag(import_source_id)
        labels = {
            LABEL_IMPORT_SOURCE_ID: import_source_id,
            LABEL_IMPORT_SOURCE_STAGE_ID: source.stage_id,
            LABEL_IMPORT_CHECKSUM: checksum,
        }
        self._record(tag, labels, source.stages[-1].created)
        return tag

    def foreign(self, image: Werf2Image, tag: str) -> None:
        """A tag pushed by hand on the image's last stage, with no metadata."""
        self._copy(image.stage_id, tag)
