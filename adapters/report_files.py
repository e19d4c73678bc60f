"""Report files written beside a run: atomically (a temp file in the same directory, then a
rename), with a writability check that runs before the first deletion."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from schemas.errors import AuditError


def check_report_writable(path: str | Path) -> Path:
    """Prove a file can be created next to ``path`` (and that ``path`` is no directory)."""
    target = Path(path).expanduser()
    try:
        if target.is_dir():
            raise IsADirectoryError(21, "it is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AuditError(
            f"the cleanup report {target} is not writable: {exc.strerror or exc}",
            hint="Pass --save-cleanup-report with a writable file path; nothing was deleted.",
        ) from exc
    return target


def write_json_atomic(path: str | Path, document: Any) -> Path:
    """Write ``document`` as tab-indented JSON (as werf does) through a temp file and a rename."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(document, indent="\t", ensure_ascii=False) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
