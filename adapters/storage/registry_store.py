"""A Distribution registry as a tag store, through :class:`adapters.registry.RegistryClient`.

Records are manifest-only images (Docker schema 2, empty layer list, config blob with labels and
``created``) exactly as werf v1.1 pushed them. A delete never removes a tag that stays: a digest
shared with one is not deleted (SPEC §12.4).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TypeVar

from adapters.cache import ContentCache
from adapters.registry import DOCKER_MANIFEST, RegistryClient
from adapters.registry.vendors.base import TAG_MOVED
from adapters.storage import base, codec
from adapters.storage.base import DeleteResult, Described
from adapters.storage.records import index_platforms
from adapters.storage.repo import DeleteItem, RepoBackend
from adapters.storage.warm_reads import _cached_manifest, describe_with_cache
from schemas.errors import NotFoundError, RegistryAuthError, RegistryError
from schemas.vocab import Outcome, Reason

T = TypeVar("T")
R = TypeVar("R")


def _digest_deleter(deleter) -> str:  # type: ignore[no-untyped-def]
    return "the registry" if deleter.implementation == "default" else f"the {deleter.implementation} API"


class RegistryBackend(RepoBackend):
    """Tag store over registry repositories ``HOST[:PORT]/PATH``.

    ``cache``: the warm-read cache (None: every read goes to the registry); ``immutable``: which
    tags never change once pushed (their descriptions are cached outright)."""

    def __init__(
        self,
        client: RegistryClient,
        cache: ContentCache | None = None,
        immutable: Callable[[str], bool] | None = None,
    ) -> None:
        self.client = client
        self.cache = cache
        self.immutable = immutable or (lambda tag: False)
        self._listed: dict[str, list[str]] | None = None
        self._listed_digests: dict[str, dict[str, str] | None] | None = None

    def close(self) -> None:
        self.client.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        outer, self._listed = self._listed, self._listed if self._listed is not None else {}
        outer_digests = self._listed_digests
        self._listed_digests = outer_digests if outer_digests is not None else {}
        try:
            yield
        finally:
            self._listed, self._listed_digests = outer, outer_digests

    def list_tags(self, repository: str) -> list[str]:
        if self._listed is not None and repository in self._listed:
            return list(self._listed[repository])
        tags = self.client.list_tags(repository)
        if self._listed is not None:
            self._listed[repository] = list(tags)
        if self.cache is not None:
            self.cache.repository(repository).listed(tags)
        return tags

    def digests(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        found = self.map(lambda tag: self.client.head_manifest(repository, tag), list(tags))
        return {tag: digest for tag, digest in zip(tags, found, strict=True) if digest}

    def describe(self, repository: str, tags: Sequence[str]) -> dict[str, Described]:
        if self.cache is not None:
            found = describe_with_cache(
                self.client,
                self.cache.repository(repository),
                repository,
                tags,
                self.immutable,
                self.map,
                listed=lambda: self.listed_digests(repository),
            )
            return found
        tags = list(tags)
        found = self.map(lambda tag: self._read(repository, tag), tags)
        return {tag: info for tag, info in zip(tags, found, strict=True) if info is not None}

    def describe_digests(self, repository: str, digests: Sequence[str]) -> dict[str, Described]:
        """Manifests by digest: content-addressed, so a warm cache answers without a request."""
        digests = list(dict.fromkeys(digests))
        found = self.map(lambda digest: self._read(repository, digest), digests)
        return {digest: info for digest, info in zip(digests, found, strict=True) if info is not None}

    def _read(self, repository: str, ref: str) -> Described | None:
        """Manifest and config of ``ref`` (a tag, or a digest: then the cache is asked first)."""
        cache = self.cache.repository(repository) if self.cache is not None else None
        try:
            manifest = _cached_manifest(cache, ref) if cache is not None and ref.startswith("sha256:") else None
            if manifest is None:
                manifest = self.client.get_manifest(repository, ref)
                if cache is not None and ref.startswith("sha256:"):
                    cache.put_blob(manifest.digest, manifest.raw)
            config_digest = manifest.config_digest
            blobs = base.manifest_blobs(manifest.digest, len(manifest.raw), manifest.parsed)
            if config_digest is None:  # an index: no single image config
                return Described(manifest.digest, None, {}, blobs[:1], index_platforms(manifest.parsed))
            raw = cache.blob(config_digest) if cache is not None else None
            if raw is None:
                raw = self.client.get_blob(repository, config_digest)
                if cache is not None:
                    cache.put_blob(config_digest, raw)
            config = json.loads(raw)
        except NotFoundError:
            return None  # deleted while listing
        except ValueError as exc:
            raise RegistryError(f"the image config of {repository}:{ref} is not valid JSON", retryable=False) from exc
        return Described(manifest.digest, config_digest, config, blobs)

    def put_image(self, repository: str, tag: str, config: bytes) -> str:
        self.client.push_blob(repository, config)
        manifest = codec.image_manifest(config, codec.DOCKER_MEDIA_TYPES)
        return self.client.put_manifest(repository, tag, manifest, DOCKER_MANIFEST)

    def copy_tag(self, repository: str, tag: str, new_tag: str) -> str:
        manifest = self.client.get_manifest(repository, tag)
        return self.client.put_manifest(repository, new_tag, manifest.raw, manifest.media_type)

    def put_manifest(
        self, repository: str, tag: str, manifest: bytes, media_type: str, blobs: Mapping[str, bytes] | None = None
    ) -> str:
        for data in (blobs or {}).values():
            self.client.push_blob(repository, data)
        try:
            return self.client.put_manifest(repository, tag, manifest, media_type)
        except RegistryError as error:
            # a concurrent upload of the same blob (the empty layer of every record) can hide it
            # for a moment: upload again and retry once
            if error.code != "MANIFEST_BLOB_UNKNOWN" or not blobs:
                raise
            for data in blobs.values():
                self.client.push_blob(repository, data)
            return self.client.put_manifest(repository, tag, manifest, media_type)

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """The vendor's listing of tags with digests (None: it has none); inside a
        :meth:`snapshot`, asked once per repository."""
        if self._listed_digests is not None and repository in self._listed_digests:
            found = self._listed_digests[repository]
            return None if found is None else dict(found)
        found = self.client.deleter.listed_digests(repository)
        if self._listed_digests is not None:
            self._listed_digests[repository] = None if found is None else dict(found)
        return found

    def delete(
        self,
        repository: str,
        phases: Sequence[Sequence[DeleteItem]],
        parallel: int | None,
        leaving: Collection[str] | None = None,
    ) -> list[list[DeleteResult]]:
        """Delete tags the way the registry's implementation does (``client.deleter``).

        The tags that stay (listed now, not deleted by the plan — ``leaving`` — nor by this call)
        are looked up, and each tag is looked up again right before its delete: gone ⇒
        ``already-gone``; moved since the plan ⇒ kept (``tag-moved``). Where a delete removes
        every tag on a digest (the Registry API's manifest delete, a GitHub package version), a
        tag whose digest a staying tag shares is kept (``shared-digest``); where the
        implementation removes the tag alone, it is deleted and the staying tag is left. A staying
        tag that is immutable by construction (a stage tag) and whose digest the cache recorded
        is not looked up again."""
        deleter = self.client.deleter
        deleting = {tag for phase in phases for tag, _ in phase} | set(leaving or ())
        stay_digests = self._staying_digests(repository, deleting)

        def check(item: DeleteItem) -> DeleteResult | tuple[str, str, bool]:
            tag, expected = item
            try:
                current = self.client.head_manifest(repository, tag)
            except RegistryAuthError:
                raise
            except RegistryError as exc:
                return base.failed(repository, tag, exc, exc.retryable)
            if current is None:
                return base.already_gone(repository, tag)
            if expected and current != expected:
                return base.kept(
                    repository,
                    tag,
                    Reason.TAG_MOVED.value,
                    f"the tag moved from {expected} to {current} since the plan; it was not deleted",
                )
            siblings = sorted(stay_digests.get(current, ()))
            if siblings and not deleter.deletes_tag_alone(repository):
                return base.kept(
                    repository,
                    tag,
                    Reason.SHARED_DIGEST.value,
                    f"its manifest {current} is also tagged {', '.join(siblings)}, which stays, and "
                    f"{_digest_deleter(deleter)} deletes by digest; it was not deleted",
                )
            return (tag, current, bool(siblings))

        results = []
        for phase in phases:
            checked = self.map(check, list(phase))
            todo = [c for c in checked if isinstance(c, tuple)]
            outcomes = iter(deleter.delete_tags(repository, todo) if todo else [])
            out = []
            for c in checked:
                if not isinstance(c, tuple):
                    out.append(c)
                    continue
                outcome = next(outcomes)
                if isinstance(outcome, RegistryError) and outcome.code == TAG_MOVED:
                    # the vendor refused: the tag was pushed again since it was checked
                    out.append(base.kept(repository, c[0], Reason.TAG_MOVED.value, outcome.message))
                elif isinstance(outcome, RegistryError):
                    out.append(base.failed(repository, c[0], outcome, outcome.retryable))
                elif outcome == Outcome.ALREADY_GONE:
                    out.append(base.already_gone(repository, c[0]))
                else:
                    out.append(base.deleted(repository, c[0]))
            results.append(out)
        return results

    def _staying_digests(self, repository: str, deleting: set[str]) -> dict[str, list[str]]:
        """Digest → the tags that stay on it (listed now, not being deleted)."""
        staying = [tag for tag in self.list_tags(repository) if tag not in deleting]
        known = self._immutable_digests(repository, staying)
        rest = [tag for tag in staying if tag not in known]
        listed = self.client.deleter.listed_digests(repository) if rest else None
        if listed is not None:  # the vendor's listing has every tag's digest: no HEAD per tag
            known.update({tag: listed[tag] for tag in rest if tag in listed})
            rest = [tag for tag in rest if tag not in listed]
        found = self.digests(repository, rest)
        stay_digests: dict[str, list[str]] = {}
        for tag, digest in {**known, **found}.items():
            stay_digests.setdefault(digest, []).append(tag)
        return stay_digests

    def _immutable_digests(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        if self.cache is None:
            return {}
        cache = self.cache.repository(repository)
        recorded = {tag: cache.immutable_digest(tag) if self.immutable(tag) else None for tag in tags}
        return {tag: digest for tag, digest in recorded.items() if digest}

    def map(self, fn: Callable[[T], R], items: Sequence[T], parallel: int | None = None) -> list[R]:
        return self.client.map_concurrent(fn, items)  # type: ignore[return-value]
