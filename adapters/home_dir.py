"""stagesweep's home directory (``--home-dir``, default ``~/.stagesweep``): temp files and
cache entries, the usage of the volume holding it, and their removal (SPEC §8).

* temp files: every file under ``<home>/tmp`` (recursively), one entry per file;
* cache entries: every top-level file or directory of ``<home>/cache``; a directory's size is
  the sum of its files and its last use the newest access or modification time inside it.

``<home>/audit`` and ``<home>/prefect`` are never listed and never removed: a removal row must
name a path inside ``tmp`` or ``cache``.

Removal rows (``storage = host``, ``item_type = cache-entry``): ``repository`` = the absolute
``tmp`` or ``cache`` directory, ``tag`` = the path relative to it.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from adapters.docker_host import VolumeUsage, volume_usage
from adapters.storage import base
from adapters.storage.base import DeleteResult
from schemas.tables import TS
from schemas.vocab import Outcome

TMP = "tmp"
CACHE = "cache"
PROTECTED = ("audit", "prefect")

#: Temp files and cache entries of the home directory.
HOME_ENTRIES_SCHEMA = pa.schema(
    [
        pa.field("area", pa.string(), nullable=False),  # "tmp" or "cache"
        pa.field("repository", pa.string(), nullable=False),  # absolute path of the area directory
        pa.field("name", pa.string(), nullable=False),  # path relative to the area directory
        pa.field("size", pa.int64(), nullable=False),
        pa.field("modified", TS, nullable=False),  # newest modification time (inside, for a directory)
        pa.field("last_used", TS, nullable=False),  # newest access or modification time
    ]
)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _tree_stats(path: Path) -> tuple[int, float, float]:
    """(size, newest mtime, newest atime) of a file, symlink or directory tree (no symlink follow)."""
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size, info.st_mtime, info.st_atime
    size, mtime, atime = 0, info.st_mtime, info.st_atime
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            try:
                child = os.lstat(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(child.st_mode):
                size += child.st_size
            mtime, atime = max(mtime, child.st_mtime), max(atime, child.st_atime)
    return size, mtime, atime


class HomeDir:
    """The temp and cache areas of one stagesweep home directory."""

    def __init__(self, home: str | os.PathLike) -> None:
        self.root = Path(home).expanduser().absolute()
        self.tmp_dir = self.root / TMP
        self.cache_dir = self.root / CACHE
        self._areas = {str(self.tmp_dir): self.tmp_dir, str(self.cache_dir): self.cache_dir}

    def __repr__(self) -> str:
        return f"HomeDir({str(self.root)!r})"

    # ------------------------------------------------------------------ inventory

    def entries(self) -> pa.Table:
        """Temp files and cache entries (HOME_ENTRIES_SCHEMA)."""
        rows = []
        if self.tmp_dir.is_dir():
            for folder, _dirs, files in os.walk(self.tmp_dir, followlinks=False):
                for name in sorted(files):
                    path = Path(folder) / name
                    try:
                        info = path.lstat()
                    except FileNotFoundError:
                        continue
                    rows.append(self._row(TMP, self.tmp_dir, path, info.st_size, info.st_mtime, info.st_atime))
        if self.cache_dir.is_dir():
            for path in sorted(self.cache_dir.iterdir()):
                try:
                    size, mtime, atime = _tree_stats(path)
                except FileNotFoundError:
                    continue
                rows.append(self._row(CACHE, self.cache_dir, path, size, mtime, atime))
        return pa.Table.from_pylist(rows, schema=HOME_ENTRIES_SCHEMA)

    @staticmethod
    def _row(area: str, area_dir: Path, path: Path, size: int, mtime: float, atime: float) -> dict:
        return {
            "area": area,
            "repository": str(area_dir),
            "name": str(path.relative_to(area_dir)),
            "size": size,
            "modified": _utc(mtime),
            "last_used": _utc(max(mtime, atime)),
        }

    def volume(self) -> VolumeUsage:
        """Usage of the volume holding the home directory."""
        return volume_usage(self.root)

    # ------------------------------------------------------------------ removals

    def delete_items(self, rows: Sequence[Mapping], parallel: int | None = None) -> list[DeleteResult]:
        """Remove temp files and cache entries; one result per row, same order. A directory under
        ``tmp`` that a removal left empty is removed too (one that was already empty stays)."""
        results = [self._delete_one(row) for row in rows]
        for row, result in zip(rows, results, strict=True):
            found = self._target(row)
            if found is not None and found[0] == self.tmp_dir and result.outcome == Outcome.DELETED.value:
                self._prune_empty_parents(found[1])
        return results

    def _target(self, row: Mapping) -> tuple[Path, Path] | None:
        area = self._areas.get(str(row["repository"]))
        if area is None:
            return None
        target = Path(os.path.normpath(area / str(row["tag"])))
        if target == area or area not in target.parents:
            return None
        return area, target

    def _delete_one(self, row: Mapping) -> DeleteResult:
        repository, tag = str(row["repository"]), str(row["tag"])
        found = self._target(row)
        if found is None:
            return base.failed(
                repository,
                tag,
                f"{repository}/{tag} is not inside {self.tmp_dir} or {self.cache_dir}; "
                f"only temp and cache files of {self.root} are removed",
                False,
            )
        _area, target = found
        try:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        except FileNotFoundError:
            return base.already_gone(repository, tag)
        except OSError as exc:
            return base.failed(repository, tag, f"cannot remove {target}: {exc.strerror or exc}", False)
        return base.deleted(repository, tag)

    def _prune_empty_parents(self, removed: Path) -> None:
        for folder in removed.parents:
            if folder == self.tmp_dir or self.tmp_dir not in folder.parents:
                return
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or vanished): leave it and its parents
