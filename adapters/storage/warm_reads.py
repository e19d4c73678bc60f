"""Describing registry tags through the warm-read cache (:mod:`adapters.cache`).

Per tag, on a warm cache:

* a tag that is immutable by construction (a werf stage ``<signature>-<unique id>``) whose
  digest, manifest and config are cached costs no request;
* any other tag read before costs one HEAD (its current digest); manifest and config then come
  from the cache by digest — a tag moved to a digest not cached yet is read by that digest;
* a tag never read before is read as without a cache (GET manifest by tag + GET config).

Cached bytes are used only when their sha256 is their digest; everything read is digest-checked
by the client before it is cached.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Sequence

from adapters.cache import RepositoryCache
from adapters.registry import Manifest, RegistryClient
from adapters.registry.manifest import media_type_of
from adapters.storage import base
from adapters.storage.base import Described
from adapters.storage.records import index_platforms
from schemas.errors import NotFoundError, RegistryError


def _cached_manifest(cache: RepositoryCache, digest: str) -> Manifest | None:
    raw = cache.blob(digest)
    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    return Manifest(digest=digest, media_type=media_type_of(None, parsed), raw=raw, parsed=parsed)


class BlobWriter:
    """Writes cache blobs on a thread of its own, so that a cold read's request threads never
    wait for the disk (two small files per tag); :meth:`close` waits for every write."""

    def __init__(self, cache: RepositoryCache) -> None:
        self._cache = cache
        self._queue: queue.SimpleQueue[tuple[str, bytes] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, digest: str, data: bytes) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="cache-writer", daemon=True)
                    thread.start()
                    self._thread = thread
        self._queue.put((digest, data))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._cache.put_blob(*item)
            except Exception:  # a blob not kept is only a later cache miss
                continue

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()


def describe_with_cache(
    client: RegistryClient,
    cache: RepositoryCache,
    repository: str,
    tags: Sequence[str],
    immutable: Callable[[str], bool],
    run: Callable[[Callable[[str], Described | None], list[str]], list[Described | None]],
    listed: Callable[[], dict[str, str] | None] | None = None,
) -> dict[str, Described]:
    """``RepoBackend.describe`` with the cache of ``repository``; vanished tags are absent.

    ``listed``: the registry implementation's listing of every tag with its digest (GitLab,
    Harbor, Quay, GCR, ECR, GHCR list them); where it answers, a mutable tag read before costs
    no HEAD — its digest comes from that listing (a few pages for the whole repository)."""
    needs_head = [t for t in tags if not (immutable(t) and cache.immutable_digest(t)) and cache.seen_digest(t) is not None]
    by_listing = (listed() if (listed is not None and needs_head) else None) or {}
    writer = BlobWriter(cache)

    def one(tag: str) -> Described | None:
        fixed = immutable(tag)
        try:
            digest = cache.immutable_digest(tag) if fixed else None
            if digest is None and cache.seen_digest(tag) is not None:
                digest = by_listing.get(tag) or client.head_manifest(repository, tag)
                if digest is None:
                    return None  # deleted while listing
            manifest = _cached_manifest(cache, digest) if digest else None
            if manifest is None:
                manifest = client.get_manifest(repository, digest or tag)
                writer.put(manifest.digest, manifest.raw)
            config_digest = manifest.config_digest
            blobs = base.manifest_blobs(manifest.digest, len(manifest.raw), manifest.parsed)
            if config_digest is None:  # an index: no single image config
                cache.note(tag, manifest.digest, immutable=fixed)
                return Described(manifest.digest, None, {}, blobs[:1], index_platforms(manifest.parsed))
            raw = cache.blob(config_digest)
            if raw is None:
                raw = client.get_blob(repository, config_digest)
                writer.put(config_digest, raw)
            config = json.loads(raw)
        except NotFoundError:
            return None  # deleted while listing
        except ValueError as exc:
            raise RegistryError(f"the image config of {repository}:{tag} is not valid JSON", retryable=False) from exc
        cache.note(tag, manifest.digest, immutable=fixed)
        return Described(manifest.digest, config_digest, config, blobs)

    tags = list(tags)
    try:
        found = run(one, tags)
    finally:
        writer.close()
    cache.save()
    return {tag: info for tag, info in zip(tags, found, strict=True) if info is not None}
