"""One deleting run per stages storage / images repo on this host: an OS file lock.

The lock is ``flock(2)`` on ``<home>/locks/<hash of the address>.lock``. The kernel drops it when
the holding process exits in any way (crash, SIGKILL, OOM kill), so a dead run never leaves it
held. The file itself stays (removing lock files races with a waiter that opened it); while held
it says who holds it, for the message the next run prints.

Addresses are normalised first, so `127.0.0.1:5000/Acme/stages/`, `oci:./x` and `oci:/abs/x` name
the same storage as their canonical forms.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path

from schemas.errors import StagesweepError

LOCAL_ADDRESS = ":local"
OCI_SCHEME = "oci:"
POLL_SECONDS = 0.2


def storage_key(address: str, docker_host: str | None = None) -> str:
    """The canonical form of a stages storage or images repo address."""
    address = address.strip()
    if address == LOCAL_ADDRESS:
        daemon = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return f"{LOCAL_ADDRESS}@{daemon}"
    if address.startswith(OCI_SCHEME):
        path = Path(address[len(OCI_SCHEME) :]).expanduser()
        return OCI_SCHEME + os.path.realpath(path)
    from adapters.registry import parse_repository

    try:
        reference = parse_repository(address.rstrip("/"))
    except StagesweepError:  # an invalid address is refused later, with its own message
        return address.rstrip("/").lower()
    return f"{reference.registry.lower()}/{reference.path}"


def locks_dir(home_dir: str | None = None) -> Path:
    """`<home>/locks` (home: `STAGESWEEP_HOME_DIR`, else ~/.stagesweep); a per-user temp dir when
    the home cannot be written."""
    home = Path(home_dir or os.environ.get("STAGESWEEP_HOME_DIR", "~/.stagesweep")).expanduser()
    directory = home / "locks"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return directory
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"stagesweep-locks-{os.getuid()}"
    fallback.mkdir(mode=0o700, parents=True, exist_ok=True)
    return fallback


def lock_name(key: str) -> str:
    return "stagesweep-" + hashlib.sha256(key.encode()).hexdigest()[:24]


class FileRunLock:
    """An exclusive lock on one storage key, held by an open file description."""

    def __init__(self, key: str, directory: Path | None = None) -> None:
        self.key = key
        self.path = (directory or locks_dir()) / f"{lock_name(key)}.lock"
        self._fd: int | None = None

    def acquire(self, holder: dict, wait_seconds: float) -> bool:
        """Take the lock, waiting at most `wait_seconds`; on success write `holder` into the file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + max(wait_seconds, 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(POLL_SECONDS)
        self._fd = fd
        record = {"key": self.key, "pid": os.getpid(), "host": socket.gethostname(), **holder}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        return True

    def holder(self) -> dict | None:
        """What the current holder wrote (None when unreadable)."""
        try:
            return json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> FileRunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
