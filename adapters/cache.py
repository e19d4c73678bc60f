"""The warm-read cache: registry content kept under ``<home>/cache`` between runs.

What is kept, per registry repository (one top-level directory of ``<home>/cache`` each, so host
cleanup trims whole repositories, least recently used first):

* ``blobs/<hex>`` — manifests and config blobs, **by digest**. Content-addressed: an entry is only
  used when the sha256 of its bytes is its name; one that is not (a torn or damaged file) is
  dropped and read from the registry again.
* ``tags.json`` — for tags that are immutable by construction (werf stage tags
  ``<signature>-<unique id>``), the digest they point to; for every other tag the digest it
  pointed to when last read (a hint only: such a tag is always asked for its current digest).

Writes go to a temp file in the same directory and are renamed over the target
(``os.replace``), so several processes sharing one cache never see a half-written file; when two
of them write ``tags.json`` at once, the last one wins — which only costs a later cache miss.
The cache decides nothing: a delete always re-reads the tag's digest from the registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import threading
import uuid
from collections.abc import Collection, Mapping
from pathlib import Path

VERSION = 1
TAGS_FILE = "tags.json"
BLOBS = "blobs"
_SHA256 = re.compile(r"sha256:([0-9a-f]{64})")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _atomic_write(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


_TEMP_NAMES = itertools.count()
_TEMP_PREFIX = uuid.uuid4().hex[:12]


def _write_blob(path: str, data: bytes) -> None:
    """:func:`_atomic_write` with os-level calls (a cold read writes thousands of small blobs):
    a temp name unique to this process (a forked one too) and call, then ``os.replace``."""
    temp = f"{path}.{os.getpid()}.{_TEMP_PREFIX}.{next(_TEMP_NAMES)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def directory_name(repository: str) -> str:
    """The cache directory of ``repository``: readable, unique (a hash of the full address)."""
    slug = _UNSAFE.sub("_", repository).strip("_")[-80:]
    return f"{slug}-{hashlib.sha256(repository.encode()).hexdigest()[:12]}"


class RepositoryCache:
    """The cached content and tag digests of one repository. Thread-safe."""

    def __init__(self, directory: Path, repository: str) -> None:
        self.directory = directory
        self.repository = repository
        self._lock = threading.Lock()
        self._immutable: dict[str, str] = {}
        self._seen: dict[str, str] = {}
        self._listed: set[str] | None = None
        self._dirty = False
        self._blobs_dir = os.path.join(directory, BLOBS)
        self._blobs_dir_made = False
        self.hits = 0
        self.misses = 0
        self._load()

    # -------------------------------------------------------------- tags
    def _load(self) -> None:
        try:
            document = json.loads((self.directory / TAGS_FILE).read_bytes())
        except (OSError, ValueError):
            return
        if not isinstance(document, dict) or document.get("version") != VERSION:
            return
        if document.get("repository") != self.repository:
            return
        for key, target in (("immutable", self._immutable), ("seen", self._seen)):
            entries = document.get(key)
            if isinstance(entries, dict):
                target.update({str(t): str(d) for t, d in entries.items() if _SHA256.fullmatch(str(d))})

    def immutable_digest(self, tag: str) -> str | None:
        """The digest of an immutable tag as recorded, or None."""
        with self._lock:
            return self._immutable.get(tag)

    def seen_digest(self, tag: str) -> str | None:
        """The digest a (mutable) tag had when last read: a hint, never an answer."""
        with self._lock:
            return self._seen.get(tag) or self._immutable.get(tag)

    def note(self, tag: str, digest: str, *, immutable: bool) -> None:
        if not _SHA256.fullmatch(digest):
            return
        with self._lock:
            target = self._immutable if immutable else self._seen
            if target.get(tag) != digest:
                target[tag] = digest
                self._dirty = True

    def listed(self, tags: Collection[str]) -> None:
        """The repository's current tag list: entries of other tags are dropped on save."""
        with self._lock:
            self._listed = set(tags)

    def save(self) -> None:
        """Write ``tags.json`` (merged with what another process may have written meanwhile)."""
        with self._lock:
            listed = self._listed
            if not self._dirty and listed is None:
                self._touch()
                return
            try:
                on_disk = RepositoryCache(self.directory, self.repository) if (self.directory / TAGS_FILE).exists() else None
            except OSError:
                on_disk = None
            immutable = {**(on_disk._immutable if on_disk else {}), **self._immutable}
            seen = {**(on_disk._seen if on_disk else {}), **self._seen}
            if listed is not None:
                immutable = {t: d for t, d in immutable.items() if t in listed}
                seen = {t: d for t, d in seen.items() if t in listed}
            document = {"version": VERSION, "repository": self.repository, "immutable": immutable, "seen": seen}
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                _atomic_write(self.directory / TAGS_FILE, json.dumps(document, separators=(",", ":")).encode())
            except OSError:
                return  # a cache that cannot be written is a cache that stays cold
            self._dirty = False

    def _touch(self) -> None:
        try:
            os.utime(self.directory / TAGS_FILE)
        except OSError:
            pass

    # -------------------------------------------------------------- blobs
    def _blob_path(self, digest: str) -> str | None:
        match = _SHA256.fullmatch(digest or "")
        return os.path.join(self._blobs_dir, match.group(1)) if match else None

    def blob(self, digest: str | None) -> bytes | None:
        """The bytes of ``digest`` if cached and intact; a damaged entry is removed."""
        path = self._blob_path(digest or "")
        if path is None:
            return None
        try:
            with open(path, "rb") as file:
                data = file.read()
        except OSError:
            self.misses += 1
            return None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            with contextlib.suppress(OSError):
                os.unlink(path)
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put_blob(self, digest: str, data: bytes) -> None:
        """Keep ``data`` as ``digest`` (ignored unless its sha256 is that digest)."""
        path = self._blob_path(digest)
        if path is None or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return
        try:
            if not self._blobs_dir_made:
                os.makedirs(self._blobs_dir, exist_ok=True)
                self._blobs_dir_made = True
            _write_blob(path, data)
        except FileNotFoundError:  # the directory was removed meanwhile (host cleanup): once more
            self._blobs_dir_made = False
            with contextlib.suppress(OSError):
                os.makedirs(self._blobs_dir, exist_ok=True)
                _write_blob(path, data)
        except OSError:
            pass


class ContentCache:
    """The cache root (``<home>/cache``): one :class:`RepositoryCache` per repository."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser().absolute()
        self._lock = threading.Lock()
        self._repositories: dict[str, RepositoryCache] = {}

    def __repr__(self) -> str:
        return f"ContentCache({str(self.root)!r})"

    def repository(self, repository: str) -> RepositoryCache:
        with self._lock:
            found = self._repositories.get(repository)
            if found is None:
                found = RepositoryCache(self.root / directory_name(repository), repository)
                self._repositories[repository] = found
            return found

    def save(self) -> None:
        with self._lock:
            repositories = list(self._repositories.values())
        for repository in repositories:
            repository.save()

    def stats(self) -> Mapping[str, int]:
        with self._lock:
            repositories = list(self._repositories.values())
        return {"hits": sum(r.hits for r in repositories), "misses": sum(r.misses for r in repositories)}
