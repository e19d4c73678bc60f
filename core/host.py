"""Host cleaning decisions (SPEC §8): which local containers, images and home files go.

Pure functions over the inventory tables of ``adapters.docker_host`` (containers, local images)
and ``adapters.home_dir`` (temp files and cache entries); columns are read by name. ``now`` is
an argument. The result is a DECISIONS table (``storage = host``) with one row per container,
per image reference (an untagged image: one row, ``repository = "<none>"``, ``tag`` = image id)
and per home entry; what stays has a keep row saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from schemas.tables import DECISIONS_SCHEMA, Row
from schemas.vocab import Action, ItemType, Reason, StorageKind

#: Never remove an image built (or a cache entry used) more recently than this.
MIN_IMAGE_AGE = timedelta(minutes=15)
#: Temp files not modified for this long are removed.
TMP_MAX_AGE = timedelta(hours=24)
BUILD_CONTAINER_PREFIX = "werf.build."
WERF_CONTAINER_PREFIX = "werf."
WERF_LABEL = "werf"
STAGE_SIGNATURE_LABEL = "werf-stage-signature"
NONE_REPOSITORY = "<none>"
#: Repositories of the ``:local`` stages storage (purge removes every image in them).
LOCAL_STORAGE_REPOS = ("werf-stages-storage/", "werf-managed-images/", "werf-images-metadata-by-commit/")
#: ``:local`` records: tiny, and the storage's state — host cleanup leaves them to purge.
LOCAL_RECORD_REPOS = ("werf-managed-images/", "werf-images-metadata-by-commit/")


@dataclass(frozen=True)
class VolumeLimit:
    """Usage above ``allowed`` percent starts removals that go on until usage is below
    ``allowed - margin`` percent."""

    allowed: float = 70.0
    margin: float = 5.0

    @property
    def target(self) -> float:
        return self.allowed - self.margin


# --------------------------------------------------------------------------- helpers


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    return dict(value) if not isinstance(value, dict) else value


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else "unknown"


def _percent(used: int, total: int) -> float:
    return 100.0 * used / total if total else 0.0


def _row(
    repository: str,
    tag: str,
    digest: str | None,
    item_type: ItemType,
    action: Action,
    reason: Reason,
    detail: str,
    signature: str | None = None,
) -> Row:
    return {
        "storage": StorageKind.HOST.value,
        "repository": repository,
        "tag": tag,
        "digest": digest,
        "item_type": item_type.value,
        "image_name": None,
        "signature": signature,
        "commit": None,
        "action": action.value,
        "reason": reason.value,
        "detail": detail,
    }


def image_references(image: Row) -> list[tuple[str, str]]:
    """(repository, tag) of each reference of an image; ``("<none>", id)`` when untagged."""
    refs = [(ref.rpartition(":")[0], ref.rpartition(":")[2]) for ref in image.get("tags") or []]
    return refs or [(NONE_REPOSITORY, image["id"])]


def _image_rows(
    image: Row, action: Action, reason: Reason, detail: str, refs: Iterable[tuple[str, str]] | None = None
) -> list[Row]:
    signature = _labels(image.get("labels")).get(STAGE_SIGNATURE_LABEL)
    return [
        _row(repo, tag, image["id"], ItemType.LOCAL_IMAGE, action, reason, detail, signature)
        for repo, tag in (image_references(image) if refs is None else refs)
    ]


def _lru(
    candidates: list[Row], used: int, total: int, freed: int, limit: VolumeLimit, what: str
) -> tuple[list[tuple[Row, str]], str]:
    """Least recently used first until the projected usage is below the target.

    Returns (chosen items with their detail, the detail for the items that stay)."""
    if total <= 0:
        return [], f"the size of the {what} volume is unknown"
    current = _percent(used, total)
    if current <= limit.allowed:
        return [], f"{what} volume usage {current:.1f}% is within the allowed {limit.allowed:g}%"
    chosen = []
    for item in sorted(candidates, key=lambda c: (c["_last_used"], c["_key"])):
        if _percent(used - freed, total) < limit.target:
            break
        chosen.append(
            (
                item,
                f"{what} volume usage {current:.1f}% is above the allowed {limit.allowed:g}%; "
                f"least recently used (last used {_when(item['_last_used'])})",
            )
        )
        freed += item["_size"]
    projected = _percent(used - freed, total)
    return chosen, (
        f"{what} volume usage {current:.1f}% will be {projected:.1f}%, below the target "
        f"{limit.target:g}%, without removing more recently used items"
    )


# --------------------------------------------------------------------------- host cleanup


def decide_host_cleanup(
    containers: pa.Table,
    images: pa.Table,
    docker_volume: tuple[int, int],
    cache_entries: pa.Table,
    cache_volume: tuple[int, int],
    now: datetime,
    *,
    docker_limit: VolumeLimit = VolumeLimit(),
    cache_limit: VolumeLimit = VolumeLimit(),
    docker_address: str = "docker",
) -> pa.Table:
    """``host cleanup``: stopped ``werf.build.*`` containers, dangling werf images older than
    15 minutes, temp files older than 24 hours go (reason ``host-cleanup``); above the volume
    limits, werf images no container uses and cache entries go least recently used first
    (reason ``storage-volume-usage``). Running containers and images younger than 15 minutes
    always stay."""
    rows: list[Row] = []
    leaving: set[str] = set()
    for c in containers.to_pylist():
        name = c["name"]
        if not name.startswith(BUILD_CONTAINER_PREFIX):
            rows.append(
                _row(
                    docker_address,
                    name,
                    c["id"],
                    ItemType.CONTAINER,
                    Action.KEEP,
                    Reason.HOST_CLEANUP,
                    "not a werf build container (werf.build.*)",
                )
            )
        elif c["running"]:
            rows.append(
                _row(
                    docker_address,
                    name,
                    c["id"],
                    ItemType.CONTAINER,
                    Action.KEEP,
                    Reason.HOST_CLEANUP,
                    "running werf build container",
                )
            )
        else:
            leaving.add(c["id"])
            rows.append(
                _row(
                    docker_address,
                    name,
                    c["id"],
                    ItemType.CONTAINER,
                    Action.DELETE,
                    Reason.HOST_CLEANUP,
                    f"stopped werf build container ({c['state']})",
                )
            )
    users: dict[str, list[str]] = {}
    for c in containers.to_pylist():
        if c["id"] not in leaving:
            users.setdefault(c["image_id"], []).append(c["name"])

    young = now - MIN_IMAGE_AGE
    deletes: list[Row] = []
    keeps: list[Row] = []
    candidates: list[Row] = []
    freed = 0
    for image in images.to_pylist():
        labels = _labels(image.get("labels"))
        created = image.get("created")
        repos = [repo for repo, _ in image_references(image)]
        if WERF_LABEL not in labels:
            keeps += _image_rows(image, Action.KEEP, Reason.HOST_CLEANUP, "not a werf image (no `werf` label)")
        elif image["id"] in users:
            keeps += _image_rows(
                image, Action.KEEP, Reason.USED_BY_CONTAINER, "used by container " + ", ".join(sorted(users[image["id"]]))
            )
        elif created is None or created > young:
            keeps += _image_rows(
                image, Action.KEEP, Reason.HOST_CLEANUP, f"image younger than 15 minutes (created {_when(created)})"
            )
        elif not image.get("tags"):
            deletes += _image_rows(image, Action.DELETE, Reason.HOST_CLEANUP, f"dangling werf image created {_when(created)}")
            freed += image.get("size") or 0
        elif any(repo.startswith(LOCAL_RECORD_REPOS) for repo in repos):
            keeps += _image_rows(image, Action.KEEP, Reason.HOST_CLEANUP, ":local stages-storage record; host purge removes it")
        else:
            candidates.append(
                {**image, "_last_used": image.get("last_used") or created, "_key": image["id"], "_size": image.get("size") or 0}
            )
    chosen, stay = _lru(candidates, *docker_volume, freed, docker_limit, "Docker storage")
    chosen_ids = {item["id"] for item, _ in chosen}
    for item, detail in chosen:
        deletes += _image_rows(item, Action.DELETE, Reason.STORAGE_VOLUME_USAGE, detail)
    for item in candidates:
        if item["id"] not in chosen_ids:
            keeps += _image_rows(item, Action.KEEP, Reason.STORAGE_VOLUME_USAGE, stay)
    rows += deletes + keeps
    rows += _decide_home_cleanup(cache_entries, cache_volume, now, cache_limit)
    return pa.Table.from_pylist(rows, schema=DECISIONS_SCHEMA)


def _decide_home_cleanup(entries: pa.Table, volume: tuple[int, int], now: datetime, limit: VolumeLimit) -> list[Row]:
    deletes: list[Row] = []
    keeps: list[Row] = []
    candidates: list[Row] = []
    freed = 0
    for e in entries.to_pylist():
        if e["area"] == "tmp":
            if e["modified"] <= now - TMP_MAX_AGE:
                deletes.append(
                    _home_row(
                        e,
                        Action.DELETE,
                        Reason.HOST_CLEANUP,
                        f"temp file last modified {_when(e['modified'])}, more than 24 hours ago",
                    )
                )
                freed += e["size"]
            else:
                keeps.append(_home_row(e, Action.KEEP, Reason.HOST_CLEANUP, "temp file modified within the last 24 hours"))
        elif e["last_used"] > now - MIN_IMAGE_AGE:
            keeps.append(_home_row(e, Action.KEEP, Reason.STORAGE_VOLUME_USAGE, "cache entry used within the last 15 minutes"))
        else:
            candidates.append({**e, "_last_used": e["last_used"], "_key": e["name"], "_size": e["size"]})
    chosen, stay = _lru(candidates, *volume, freed, limit, "local cache")
    chosen_names = {item["name"] for item, _ in chosen}
    deletes += [_home_row(item, Action.DELETE, Reason.STORAGE_VOLUME_USAGE, detail) for item, detail in chosen]
    keeps += [_home_row(c, Action.KEEP, Reason.STORAGE_VOLUME_USAGE, stay) for c in candidates if c["name"] not in chosen_names]
    return deletes + keeps


def _home_row(entry: Row, action: Action, reason: Reason, detail: str) -> Row:
    return _row(entry["repository"], entry["name"], None, ItemType.CACHE_ENTRY, action, reason, detail)


# --------------------------------------------------------------------------- host purge


def decide_host_purge(
    containers: pa.Table,
    images: pa.Table,
    home_entries: pa.Table,
    *,
    force: bool = False,
    docker_address: str = "docker",
) -> pa.Table:
    """``host purge``: every werf container (running ones only with ``force``), every image
    labelled ``werf`` and every reference in the ``:local`` stages-storage repositories, and all
    temp and cache entries of the home directory (reason ``purge``)."""
    image_list = images.to_pylist()
    werf_images = {i["id"] for i in image_list if WERF_LABEL in _labels(i.get("labels"))}
    storage_images = {i["id"] for i in image_list if any(repo.startswith(LOCAL_STORAGE_REPOS) for repo, _ in image_references(i))}
    purged_images = werf_images | storage_images
    rows: list[Row] = []
    staying: dict[str, list[str]] = {}
    for c in containers.to_pylist():
        name = c["name"]
        werf = name.startswith(WERF_CONTAINER_PREFIX) or WERF_LABEL in _labels(c.get("labels")) or c["image_id"] in purged_images
        if not werf:
            staying.setdefault(c["image_id"], []).append(f"{name} (not a werf container)")
            rows.append(
                _row(docker_address, name, c["id"], ItemType.CONTAINER, Action.KEEP, Reason.PURGE, "not a werf container")
            )
        elif c["running"] and not force:
            staying.setdefault(c["image_id"], []).append(f"{name} (running)")
            rows.append(
                _row(
                    docker_address,
                    name,
                    c["id"],
                    ItemType.CONTAINER,
                    Action.KEEP,
                    Reason.PURGE,
                    "running werf container; pass --force to remove it",
                )
            )
        else:
            state = "running, removed with --force" if c["running"] else c["state"]
            rows.append(
                _row(docker_address, name, c["id"], ItemType.CONTAINER, Action.DELETE, Reason.PURGE, f"werf container ({state})")
            )
    deletes: list[Row] = []
    keeps: list[Row] = []
    for image in image_list:
        refs = image_references(image)
        if image["id"] in werf_images:
            purged = refs
        else:
            purged = [(repo, tag) for repo, tag in refs if repo.startswith(LOCAL_STORAGE_REPOS)]
        others = [ref for ref in refs if ref not in purged]
        if others:
            keeps += _image_rows(image, Action.KEEP, Reason.PURGE, "not a werf image", others)
        if not purged:
            continue
        if image["id"] in staying:
            users = ", ".join(sorted(staying[image["id"]]))
            hint = "; pass --force to remove running werf containers" if not force else ""
            keeps += _image_rows(image, Action.KEEP, Reason.USED_BY_CONTAINER, f"used by container {users}{hint}", purged)
        else:
            what = "werf image" if image["id"] in werf_images else ":local stages-storage image"
            deletes += _image_rows(image, Action.DELETE, Reason.PURGE, what, purged)
    rows += deletes + keeps
    rows += [_home_row(e, Action.DELETE, Reason.PURGE, f"stagesweep {e['area']} entry") for e in home_entries.to_pylist()]
    return pa.Table.from_pylist(rows, schema=DECISIONS_SCHEMA)
