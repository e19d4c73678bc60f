"""Image configs and manifests of manifest-only images: ids, parents, ``created`` times.

Pure functions (no I/O). The image id of an image is the digest of its config blob, so it is
known before the image is stored anywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


def image_id(config_bytes: bytes) -> str:
    """The image ID: the digest of the config blob."""
    return digest_of(config_bytes)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_labels(config: Mapping | None) -> dict[str, str]:
    inner = (config or {}).get("config") or {}
    return dict(inner.get("Labels") or {})


def parent_id(config: Mapping | None) -> str | None:
    """``config.Image``: the image id of the parent stage (None when absent)."""
    inner = (config or {}).get("config") or {}
    return inner.get("Image") or None


def created_at(config: Mapping | None) -> datetime | None:
    value = (config or {}).get("created")
    return parse_created(value) if value else None


def parse_created(value: str) -> datetime:
    """An RFC 3339 time (any fraction length, ``Z`` or offset) as an aware UTC datetime."""
    match = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", value.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    head, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{head}.{micro}{zone}").astimezone(UTC)


def format_created(moment: datetime | int) -> str:
    """RFC 3339 like Go's ``time.RFC3339Nano`` (UTC, trailing fraction zeros dropped).

    Accepts an aware datetime or nanoseconds since the epoch.
    """
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("created must be timezone-aware")
        moment = moment.astimezone(UTC)
        seconds = int(moment.replace(microsecond=0).timestamp())
        nanos = moment.microsecond * 1000
    else:
        seconds, nanos = divmod(int(moment), 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


_clock_lock = threading.Lock()
_last_ns = 0


def unique_now_ns() -> int:
    """Now in nanoseconds, strictly increasing within the process.

    Manifest-only records carry ``created = now`` so that each has its own digest; two records
    with the same labels written in the same clock tick must still differ.
    """
    global _last_ns
    with _clock_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        return _last_ns


def image_config(
    labels: Mapping[str, str],
    created: datetime | int,
    parent: str | None = None,
    diff_ids: list[str] | None = None,
) -> bytes:
    """A Docker/OCI image config blob with ``labels``, ``created`` and ``config.Image``."""
    inner: dict = {"Labels": dict(sorted(labels.items()))}
    if parent:
        inner["Image"] = parent
    config = {
        "architecture": "amd64",
        "config": inner,
        "created": format_created(created),
        "os": "linux",
        "rootfs": {"diff_ids": list(diff_ids or []), "type": "layers"},
    }
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class MediaTypes:
    manifest: str
    config: str
    layer: str


DOCKER_MEDIA_TYPES = MediaTypes(
    manifest="application/vnd.docker.distribution.manifest.v2+json",
    config="application/vnd.docker.container.image.v1+json",
    layer="application/vnd.docker.image.rootfs.diff.tar.gzip",
)
OCI_MEDIA_TYPES = MediaTypes(
    manifest="application/vnd.oci.image.manifest.v1+json",
    config="application/vnd.oci.image.config.v1+json",
    layer="application/vnd.oci.image.layer.v1.tar",
)


def image_manifest(config_bytes: bytes, media: MediaTypes, layers: list[tuple[str, int]] | None = None) -> bytes:
    """A schema-2 manifest for ``config_bytes``; ``layers`` are (digest, size) pairs (none: manifest-only)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.manifest,
        "config": {"mediaType": media.config, "size": len(config_bytes), "digest": digest_of(config_bytes)},
        "layers": [{"mediaType": media.layer, "size": size, "digest": digest} for digest, size in layers or []],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()
