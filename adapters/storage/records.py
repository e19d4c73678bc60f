"""What a storage reads and what a delete did: tag descriptions, delete results, and the blob rows
a description contributes to the reclaimable-bytes accounting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.storage import codec
from schemas.vocab import Outcome


@dataclass(frozen=True)
class DeleteResult:
    """What happened to one delete row. ``outcome`` is ``deleted``, ``already-gone`` or ``failed``."""

    repository: str
    tag: str
    outcome: str
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None  # the registry's wait hint (429 Retry-After), seconds
    #: ``kept`` results (found at delete time: the tag moved, or a tag that stays shares its
    #: digest): why, for the audit row
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Entry:
    """One tag of a storage: where it is (``repository``, ``tag``) and the werf v1.1 record tag it
    stands for (the same string, except for ``:local`` records that drop their prefix)."""

    repository: str
    tag: str
    record_tag: str


@dataclass(frozen=True)
class Described:
    """An image as read from a backend."""

    digest: str  # manifest digest (registry, OCI) or image id (:local)
    image_id: str | None  # config digest
    config: Mapping = field(default_factory=dict)
    #: (digest, size) of the manifest itself, then its config and layers, as the manifest lists
    #: them; empty where no manifest was read (:local)
    blobs: tuple[tuple[str, int], ...] = ()
    #: an image index (multi-platform image): the digests of its manifests, in its order; () otherwise
    platforms: tuple[str, ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        return codec.config_labels(self.config)

    @property
    def size_bytes(self) -> int | None:
        """Config + layers of the manifest (what the image weighs in the registry)."""
        return sum(size for _, size in self.blobs[1:]) if self.blobs else None


def manifest_blobs(digest: str, raw_size: int, manifest: Mapping) -> tuple[tuple[str, int], ...]:
    """``Described.blobs`` of a parsed image manifest: itself, its config, its layers."""
    found = [(digest, raw_size)]
    config = manifest.get("config")
    for desc in ([config] if isinstance(config, Mapping) else []) + list(manifest.get("layers") or []):
        if isinstance(desc, Mapping) and desc.get("digest"):
            found.append((str(desc["digest"]), int(desc.get("size") or 0)))
    return tuple(found)


def index_platforms(manifest: Mapping) -> tuple[str, ...]:
    """The manifest digests an image index (or Docker manifest list) lists; () for an image."""
    entries = manifest.get("manifests")
    if not isinstance(entries, list):
        return ()
    return tuple(str(entry["digest"]) for entry in entries if isinstance(entry, Mapping) and entry.get("digest"))


def blob_rows(repository: str, tag: str, info: Described) -> list[dict]:
    """BLOBS_SCHEMA rows of one described tag."""
    return [{"repository": repository, "tag": tag, "blob_digest": digest, "blob_size": size} for digest, size in info.blobs]


def failed(repository: str, tag: str, error: Exception | str, retryable: bool) -> DeleteResult:
    retry_after = getattr(error, "retry_after", None)
    return DeleteResult(repository, tag, Outcome.FAILED.value, str(error), retryable, retry_after)


def deleted(repository: str, tag: str) -> DeleteResult:
    return DeleteResult(repository, tag, Outcome.DELETED.value)


def already_gone(repository: str, tag: str) -> DeleteResult:
    return DeleteResult(repository, tag, Outcome.ALREADY_GONE.value)


def kept(repository: str, tag: str, reason: str, detail: str) -> DeleteResult:
    """Not deleted because the world changed since the plan (``reason``), and rightly so."""
    return DeleteResult(repository, tag, Outcome.KEPT.value, reason=reason, detail=detail)
