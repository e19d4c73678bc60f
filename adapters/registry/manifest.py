"""Manifests: media types, the parsed ``Manifest`` value and manifest-only image documents."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

MANIFEST_ACCEPT = ", ".join([DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX])
INDEX_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A manifest as stored: ``raw`` bytes (their sha256 is ``digest``) and the parsed JSON."""

    digest: str
    media_type: str
    raw: bytes
    parsed: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES

    @property
    def config_digest(self) -> str | None:
        """Digest of the image config blob (None for an index / manifest list)."""
        config = self.parsed.get("config")
        return config.get("digest") if isinstance(config, dict) else None

    @property
    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.parsed.get("layers") or [] if "digest" in layer]


def canonical_json(document: dict[str, Any]) -> bytes:
    """Compact JSON with sorted keys: the same document always has the same digest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def manifest_only_config(config: dict[str, Any]) -> dict[str, Any]:
    """An image config with no layers: the caller's ``config`` plus the fields an image config
    needs when missing (``created`` = now, linux/amd64, an empty ``rootfs``)."""
    document = dict(config)
    document.setdefault("created", rfc3339_now())
    document.setdefault("architecture", "amd64")
    document.setdefault("os", "linux")
    document.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    return document


def image_manifest(config_digest: str, config_size: int, layers: list[dict[str, Any]] | None = None) -> bytes:
    """A Docker schema 2 image manifest document (``layers`` are descriptors)."""
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest},
            "layers": list(layers or []),
        }
    )


def media_type_of(content_type: str | None, parsed: dict[str, Any]) -> str:
    """Media type from the ``Content-Type`` header, else from the document's ``mediaType``."""
    if content_type:
        value = content_type.split(";", 1)[0].strip()
        if value and value not in ("application/json", "application/octet-stream", "text/plain"):
            return value
    if parsed.get("mediaType"):
        return str(parsed["mediaType"])
    return OCI_INDEX if "manifests" in parsed else OCI_MANIFEST
