"""A Distribution registry as a tag store, through :class:`adapters.registry.RegistryClient`.

Records are manifest-only images (Docker schema 2, empty layer list, config blob with labels and
``created``) exactly as werf v1.1 pushed them. Deletes go through ``delete_tag``, which refuses
a digest shared with a tag outside the request (SPEC §12.4).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from adapters.registry import DOCKER_MANIFEST, RegistryClient
from adapters.storage import base, codec
from adapters.storage.base import DeleteResult, Described
from adapters.storage.repo import DeleteItem, RepoBackend
from schemas.errors import NotFoundError, RegistryAuthError, RegistryError
from schemas.vocab import Outcome

T = TypeVar("T")
R = TypeVar("R")


class RegistryBackend(RepoBackend):
    """Tag store over registry repositories ``HOST[:PORT]/PATH``."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def list_tags(self, repository: str) -> list[str]:
        return self.client.list_tags(repository)

    def digests(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        found = self.map(lambda tag: self.client.head_manifest(repository, tag), list(tags))
        return {tag: digest for tag, digest in zip(tags, found, strict=True) if digest}

    def describe(self, repository: str, tags: Sequence[str]) -> dict[str, Described]:
        def one(tag: str) -> Described | None:
            try:
                manifest = self.client.get_manifest(repository, tag)
                config_digest = manifest.config_digest
                blobs = base.manifest_blobs(manifest.digest, len(manifest.raw), manifest.parsed)
                if config_digest is None:  # an index: no single image config
                    return Described(manifest.digest, None, {}, blobs[:1])
                config = json.loads(self.client.get_blob(repository, config_digest))
            except NotFoundError:
                return None  # deleted while listing
            except ValueError as exc:
                raise RegistryError(
                    f"the image config of {repository}:{tag} is not valid JSON", retryable=False
                ) from exc
            return Described(manifest.digest, config_digest, config, blobs)

        tags = list(tags)
        found = self.map(one, tags)
        return {tag: info for tag, info in zip(tags, found, strict=True) if info is not None}

    def put_image(self, repository: str, tag: str, config: bytes) -> str:
        self.client.push_blob(repository, config)
        manifest = codec.image_manifest(config, codec.DOCKER_MEDIA_TYPES)
        return self.client.put_manifest(repository, tag, manifest, DOCKER_MANIFEST)

    def copy_tag(self, repository: str, tag: str, new_tag: str) -> str:
        manifest = self.client.get_manifest(repository, tag)
        return self.client.put_manifest(repository, new_tag, manifest.raw, manifest.media_type)

    def delete(
        self, repository: str, phases: Sequence[Sequence[DeleteItem]], parallel: int | None
    ) -> list[list[DeleteResult]]:
        tag_digests = self.digests(repository, self.list_tags(repository))
        deleting = frozenset(tag for phase in phases for tag, _ in phase)

        def one(item: DeleteItem) -> DeleteResult:
            tag, expected = item
            try:
                expected = expected or tag_digests.get(tag) or self.client.head_manifest(repository, tag)
                if expected is None:
                    return base.already_gone(repository, tag)
                outcome = self.client.delete_tag(repository, tag, expected, tag_digests, deleting)
            except RegistryAuthError:
                raise
            except RegistryError as exc:
                return base.failed(repository, tag, exc, exc.retryable)
            if outcome == Outcome.ALREADY_GONE:
                return base.already_gone(repository, tag)
            return base.deleted(repository, tag)

        return [self.map(one, list(phase)) for phase in phases]

    def map(self, fn: Callable[[T], R], items: Sequence[T], parallel: int | None = None) -> list[R]:
        return self.client.map_concurrent(fn, items)  # type: ignore[return-value]
