"""The build host's Docker daemon: inventory of containers and images, the usage of the volume
holding the daemon's data, and removals (SPEC §8).

"Last used" of an image: the daemon records no image usage, so an image's last use is the newest
of its own ``Created`` time and the created/started/finished times of the containers that exist
now and were made from it. A container removed earlier leaves no trace, so an image whose
containers are gone counts as last used when it was built (or when its last surviving container
ran) — the least-recently-used order is an approximation that favours keeping fresh builds.

Removal rows (DECISIONS rows, ``storage = host``):

* ``container``: ``repository`` = daemon address, ``tag`` = container name, ``digest`` = the
  container id planned (a new container that took the name is never removed);
* ``local-image``: one row per reference, ``repository``/``tag`` from ``repo:tag`` and
  ``digest`` = image id; an untagged (dangling) image has ``repository = "<none>"`` and
  ``tag`` = its image id. A reference is untagged by name (the last one removes the image), a
  dangling image is removed by id; both with ``force=False``, so Docker refuses to remove an
  image a container still uses.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from adapters.concurrency import parallel_map
from adapters.storage import base
from adapters.storage.base import DeleteResult
from adapters.storage.codec import parse_created
from adapters.storage.local import connect, remove_image_reference
from schemas.errors import DockerHostError
from schemas.tables import TS
from schemas.vocab import ItemType

if TYPE_CHECKING:
    import docker.errors

NONE_REPOSITORY = "<none>"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_LABELS = pa.map_(pa.string(), pa.string())


def _errors() -> Any:
    """``docker.errors``, imported on first use: a module that needs only the volume usage from
    here (the home directory) loads neither the docker package nor ``requests``."""
    import docker.errors

    return docker.errors


def _connection_errors() -> tuple[type[BaseException], ...]:
    import requests.exceptions

    return (requests.exceptions.ConnectionError, _errors().DockerException)


#: Containers of the daemon (running or not).
CONTAINERS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),  # without the leading "/"
        pa.field("image", pa.string(), nullable=True),  # the reference it was created from
        pa.field("image_id", pa.string(), nullable=True),
        pa.field("running", pa.bool_(), nullable=False),
        pa.field("state", pa.string(), nullable=False),  # created, running, exited, paused, ...
        pa.field("labels", _LABELS, nullable=False),
        pa.field("created", TS, nullable=True),
        pa.field("started_at", TS, nullable=True),
        pa.field("finished_at", TS, nullable=True),
    ]
)

#: Images of the daemon, untagged ones included.
LOCAL_IMAGES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),  # "repo:tag" references, [] if dangling
        pa.field("labels", _LABELS, nullable=False),
        pa.field("created", TS, nullable=True),
        pa.field("size", pa.int64(), nullable=False),  # bytes, shared layers counted in full
        pa.field("last_used", TS, nullable=True),
        pa.field("containers", pa.list_(pa.string()), nullable=False),  # names of containers made from it
    ]
)


@dataclass(frozen=True)
class VolumeUsage:
    """Usage of the file system holding ``path`` (bytes)."""

    path: str
    used: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.total if self.total else 0.0


def volume_usage(path: str | Path) -> VolumeUsage:
    """Usage of the volume of ``path`` (or of its nearest existing parent)."""
    probe = Path(path).expanduser()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return VolumeUsage(str(probe), usage.used, usage.total)


def daemon_address(docker_host: str | None) -> str:
    """The address a client for ``docker_host`` talks to (``DOCKER_HOST``, else the default socket)."""
    return docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def _time(value) -> datetime | None:
    """A Docker time: RFC 3339 text or Unix seconds; Docker's zero time (year 1) is None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    moment = parse_created(value)
    return None if moment.year <= 1 else moment


def _split_reference(reference: str) -> tuple[str, str]:
    repository, _, tag = reference.rpartition(":")
    return repository, tag


class DockerHost:
    """One Docker daemon (``docker_host`` or ``DOCKER_HOST``/the default socket)."""

    def __init__(self, docker_host: str | None = None, *, force: bool = False, parallel: int = 4) -> None:
        self.address = daemon_address(docker_host)
        self.client = connect(docker_host)
        self.api = self.client.api
        self.force = force
        self.parallel = parallel

    def close(self) -> None:
        self.client.close()

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _connection_errors() as exc:
            raise DockerHostError(
                f"cannot {what} on the Docker daemon at {self.address}: {exc}",
                hint="check that dockerd runs and answers; pass --docker-host (or DOCKER_HOST) to pick the daemon",
            ) from exc

    # ------------------------------------------------------------------ inventory

    def containers(self) -> pa.Table:
        """Every container (CONTAINERS_SCHEMA), with start and finish times."""
        listed = self._call("list containers", self.api.containers, all=True)

        def describe(item: Mapping) -> dict | None:
            try:
                info = self.api.inspect_container(item["Id"])
            except _errors().NotFound:
                return None  # removed while listing
            except _connection_errors() as exc:
                raise DockerHostError(f"cannot inspect container {item['Id'][:12]} at {self.address}: {exc}") from exc
            state = info.get("State") or {}
            return {
                "id": info["Id"],
                "name": (info.get("Name") or "").lstrip("/") or info["Id"][:12],
                "image": (info.get("Config") or {}).get("Image"),
                "image_id": info.get("Image"),
                "running": bool(state.get("Running")),
                "state": state.get("Status") or item.get("State") or "",
                "labels": dict((info.get("Config") or {}).get("Labels") or {}),
                "created": _time(info.get("Created")),
                "started_at": _time(state.get("StartedAt")),
                "finished_at": _time(state.get("FinishedAt")),
            }

        rows = [row for row in self._map(describe, listed) if row is not None]
        rows.sort(key=lambda r: r["name"])
        return pa.Table.from_pylist(rows, schema=CONTAINERS_SCHEMA)

    def images(self, containers: pa.Table | None = None) -> pa.Table:
        """Every image (LOCAL_IMAGES_SCHEMA); ``last_used`` as described in the module doc."""
        containers = self.containers() if containers is None else containers
        listed = self._call("list images", self.api.images, all=False)
        used: dict[str, list[dict]] = {}
        for row in containers.to_pylist():
            used.setdefault(row["image_id"], []).append(row)
        rows = []
        for item in listed:
            created = _time(item.get("Created"))
            users = used.get(item["Id"], [])
            moments = [created] + [r[k] for r in users for k in ("created", "started_at", "finished_at")]
            moments = [m for m in moments if m is not None]
            rows.append(
                {
                    "id": item["Id"],
                    "tags": sorted(t for t in item.get("RepoTags") or [] if t != "<none>:<none>"),
                    "labels": dict(item.get("Labels") or {}),
                    "created": created,
                    "size": max(int(item.get("Size") or 0), 0),
                    "last_used": max(moments) if moments else None,
                    "containers": sorted(r["name"] for r in users),
                }
            )
        rows.sort(key=lambda r: (r["tags"][:1], r["id"]))
        return pa.Table.from_pylist(rows, schema=LOCAL_IMAGES_SCHEMA)

    def storage_volume(self, storage_path: str | None = None) -> VolumeUsage:
        """Usage of the volume holding the daemon's data root (``docker info`` DockerRootDir),
        or of ``storage_path`` when given."""
        if storage_path:
            return volume_usage(storage_path)
        root = self._call("read docker info", self.api.info).get("DockerRootDir")
        if not root or not Path(root).exists():
            raise DockerHostError(
                f"cannot measure the Docker storage volume: the data root {root!r} of the daemon at "
                f"{self.address} is not a path on this machine",
                hint="pass --docker-storage-path with a path on the volume that holds the Docker data",
            )
        return volume_usage(root)

    # ------------------------------------------------------------------ removals

    def delete_items(self, rows: Sequence[Mapping], parallel: int | None = None) -> list[DeleteResult]:
        """Remove container and local-image rows; one result per row, same order.

        Rows of one image are handled one after the other (untagging the last reference removes
        the image); different images and containers go concurrently.
        """
        groups: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            key = str(row.get("digest") or row.get("tag"))
            groups.setdefault(key, []).append(index)

        def run(indexes: list[int]) -> list[tuple[int, DeleteResult]]:
            return [(i, self._delete_one(rows[i])) for i in indexes]

        results: list[DeleteResult | None] = [None] * len(rows)
        for done in self._map(run, list(groups.values()), parallel):
            for index, result in done:
                results[index] = result
        return [r for r in results if r is not None]

    def _delete_one(self, row: Mapping) -> DeleteResult:
        item_type = row.get("item_type")
        if item_type == ItemType.CONTAINER:
            return self._remove_container(row)
        if item_type == ItemType.LOCAL_IMAGE:
            return self._remove_image(row)
        return base.failed(str(row["repository"]), str(row["tag"]), f"{item_type} is not a Docker item", False)

    def _remove_container(self, row: Mapping) -> DeleteResult:
        repository, name = str(row["repository"]), str(row["tag"])
        target = row.get("digest") or name
        try:
            self.api.remove_container(target, v=True, force=self.force)
        except _errors().NotFound:
            return base.already_gone(repository, name)
        except _errors().APIError as exc:
            return self._api_failure(repository, name, f"container {name}", exc)
        except _connection_errors() as exc:
            return base.failed(repository, name, f"cannot reach the Docker daemon to remove container {name}: {exc}", True)
        return base.deleted(repository, name)

    def _remove_image(self, row: Mapping) -> DeleteResult:
        repository, tag, expected = str(row["repository"]), str(row["tag"]), row.get("digest")
        if repository != NONE_REPOSITORY:
            return remove_image_reference(self.api, repository, tag, expected)
        try:  # a dangling image: only its id names it
            self.api.remove_image(tag, force=False, noprune=False)
        except _errors().NotFound:
            return base.already_gone(repository, tag)
        except _errors().APIError as exc:
            return self._api_failure(repository, tag, f"image {tag}", exc)
        except _connection_errors() as exc:
            return base.failed(repository, tag, f"cannot reach the Docker daemon to remove {tag}: {exc}", True)
        return base.deleted(repository, tag)

    @staticmethod
    def _api_failure(repository: str, tag: str, what: str, exc: docker.errors.APIError) -> DeleteResult:
        status = exc.status_code
        if status == 409:
            return base.failed(
                repository, tag, f"cannot remove {what}: {exc.explanation}; it is in use, run again once it is free", False
            )
        return base.failed(repository, tag, f"cannot remove {what}: {exc}", status is None or status >= 500)

    # ------------------------------------------------------------------ concurrency

    def _map(self, fn, items: Sequence, parallel: int | None = None) -> list:
        return parallel_map(fn, items, parallel or self.parallel)


class DockerStore:
    """Deletes host rows with a Docker client opened per batch and closed when it is done."""

    def __init__(self, docker_host: str | None, *, force: bool = False, parallel: int = 4) -> None:
        self.docker_host, self.force, self.parallel = docker_host, force, parallel

    def delete_items(self, rows: Sequence[Mapping], parallel: int | None = None) -> list[DeleteResult]:
        host = DockerHost(self.docker_host, force=self.force, parallel=self.parallel)
        try:
            return host.delete_items(rows, parallel)
        finally:
            host.close()
