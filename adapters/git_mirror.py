"""A project's git repository by URL: a bare, blob-less mirror under ``<home>/cache/git/<hash>``.

``git clone --mirror --filter=blob:none URL`` the first time, ``git fetch --prune --prune-tags``
at each run after, under a file lock so concurrent runs of the same URL never fetch into the
same mirror at once. History needs commits, not file contents: blobs (the werf.yaml and its
partials) are fetched on demand when ``git show`` reads them from a ref.

Credentials come only from git's own helpers (credential helpers, SSH agent and keys, ``.netrc``);
git never prompts (``GIT_TERMINAL_PROMPT=0``, ``BatchMode`` for SSH). Any user info in the URL is
left out of messages.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schemas.errors import GitError

MIRRORS = Path("cache") / "git"
#: where a mirror keeps origin's branches (``--mirror`` maps refs/* onto refs/*)
BRANCHES = "refs/heads/"
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@")
FETCH_TIMEOUT = float(os.environ.get("STAGESWEEP_GIT_FETCH_TIMEOUT", "600"))


def shown_url(url: str) -> str:
    """The URL without user info (``https://user:token@host/x`` → ``https://***@host/x``)."""
    return _USERINFO.sub(r"\1***@", url)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    env.pop("GIT_DIR", None)
    return env


def mirror_dir(home_dir: str | Path, url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:24]
    return Path(home_dir).expanduser() / MIRRORS / digest


class GitMirror:
    """The local mirror of one git URL."""

    def __init__(self, url: str, home_dir: str | Path) -> None:
        if not url or url.startswith("-"):
            raise GitError(f"{url!r} is not a git URL", hint="Pass the repository URL with --git-url URL.")
        self.url = url
        self.path = mirror_dir(home_dir, url)

    def _run(self, *args: str, cwd: Path | None = None, what: str = "") -> str:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=FETCH_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"{shown_url(self.url)}: git {what or args[0]} timed out after {FETCH_TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            detail = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
            raise GitError(
                f"{shown_url(self.url)}: git {what or args[0]} failed: {detail.replace(self.url, shown_url(self.url))}",
                hint="Check the URL and that git can reach it with this machine's credentials "
                "(credential helper, SSH key or agent); stagesweep never takes git credentials itself.",
            )
        return done.stdout

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _cloned(self) -> bool:
        return (self.path / "HEAD").is_file()

    def sync(self) -> Path:
        """Clone the mirror, or fetch into it with prune; the mirror's path."""
        with self._locked():
            if self._cloned():
                self._run("fetch", "--quiet", "--prune", "--prune-tags", "origin", cwd=self.path, what="fetch")
            else:
                self._clone()
        return self.path

    def ensure(self) -> Path:
        """The mirror, cloned when missing (no fetch when it exists)."""
        if self._cloned():
            return self.path
        return self.sync()

    def _clone(self) -> None:
        temp = Path(tempfile.mkdtemp(prefix=self.path.name + ".", dir=self.path.parent))
        try:
            self._run("clone", "--quiet", "--mirror", "--filter=blob:none", "--", self.url, str(temp / "m"), what="clone")
            # no automatic gc in the middle of a run's reads
            self._run("config", "gc.auto", "0", cwd=temp / "m", what="config")
            if self.path.exists():
                shutil.rmtree(self.path)
            os.replace(temp / "m", self.path)
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    # -- reading files from a ref ----------------------------------------------------------

    def resolve(self, ref: str | None) -> str:
        """The commit a ref names (default: the origin's default branch, the mirror's HEAD)."""
        name = ref or "HEAD"
        for candidate in (name, BRANCHES + name, "refs/tags/" + name):
            out = subprocess.run(
                ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
                cwd=self.path,
                env=_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        raise GitError(
            f"{shown_url(self.url)}: no branch, tag or commit {name!r} to read the werf.yaml from",
            hint="Pass an existing ref with --config-ref REF (default: the origin's default branch).",
        )

    def show(self, commit: str, path: str) -> bytes | None:
        """The content of ``path`` at ``commit``, or None when it is not a file there."""
        kind = subprocess.run(
            ["git", "cat-file", "-t", f"{commit}:{path}"],
            cwd=self.path,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if kind.returncode != 0 or kind.stdout.strip() != "blob":
            return None
        done = subprocess.run(
            ["git", "show", f"{commit}:{path}"],
            cwd=self.path,
            env=_env(),
            capture_output=True,
            check=False,
            timeout=FETCH_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise GitError(
                f"{shown_url(self.url)}: cannot read {path} at {commit[:12]}: {done.stderr.decode(errors='replace').strip()}"
            )
        return done.stdout

    def commit_line(self, commit: str) -> str:
        """``HASH ISO-8601-COMMITTER-DATE`` of a commit ("" when it cannot be read)."""
        done = subprocess.run(
            ["git", "log", "-1", "--format=%H %cI", commit],
            cwd=self.path,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    def files(self, commit: str, under: str = "") -> list[str]:
        """Paths of the files at ``commit`` (under a directory), without fetching any blob."""
        args = ["git", "ls-tree", "-r", "-z", "--name-only", commit]
        if under:
            args += ["--", under.rstrip("/") + "/"]
        done = subprocess.run(args, cwd=self.path, env=_env(), capture_output=True, check=False)
        if done.returncode != 0:
            return []
        return [p for p in done.stdout.decode("utf-8", "surrogateescape").split("\0") if p]
