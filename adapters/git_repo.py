"""The project's git repository as Arrow tables (SPEC §3), through GitPython.

* ``references()`` — origin remote branches (``origin/`` removed, ``origin/HEAD`` skipped) and
  tags, one ``git for-each-ref`` call;
* ``commits()`` — the whole commit graph in one ``git rev-list`` pass;
* ``existing_commits(shas)`` — which commits exist, one ``git cat-file --batch-check`` call;
* ``sync_with_origin()`` / ``check_not_shallow()`` — make the history complete before reading it.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import git
import pyarrow as pa
import pyarrow.compute as pc

from schemas.errors import GitError
from schemas.tables import COMMITS_SCHEMA, REFS_SCHEMA
from schemas.vocab import RefKind

REMOTE = "origin"
_BRANCH_PREFIX = f"refs/remotes/{REMOTE}/"
_TAG_PREFIX = "refs/tags/"
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_FIELDS = (
    "%(refname)",
    "%(objecttype)",
    "%(objectname)",
    "%(creatordate:unix)",  # tagger time for an annotated tag, committer time for a commit
    "%(*objecttype)",
    "%(*objectname)",
    "%(*committerdate:unix)",
)
_REF_FORMAT = "%00".join(_FIELDS)
SYNC_HINT = (
    "Run with --git-history-synchronization (or set gitWorktree.allowFetchOriginBranchesAndTags: true) "
    "to fetch the full history from origin, or pass --allow-git-shallow-clone to accept that metadata "
    "of commits missing from the clone is deleted."
)


class GitRepo:
    """A git work tree (or bare repository) whose history drives images cleanup."""

    def __init__(self, path: str | Path, *, mirror: bool = False) -> None:
        self.path = Path(path)
        #: a mirror (``git clone --mirror``) keeps origin's branches as its own refs/heads/*
        self.branch_prefix = "refs/heads/" if mirror else _BRANCH_PREFIX
        try:
            self.repo = git.Repo(self.path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise GitError(
                f"{self.path}: no git repository (.git) found; images cleanup needs the git repository",
                hint="Pass the project's git work tree with --dir (it must contain .git).",
            ) from None

    # -- plumbing ---------------------------------------------------------------------------

    def _git(self, *args: str, **kwargs):
        try:
            return self.repo.git.execute(["git", *args], **kwargs)
        except git.GitCommandError as exc:
            stderr = (exc.stderr or "").strip().removeprefix("stderr: ").strip("'").strip()
            raise GitError(f"{self.repo.git_dir}: `git {' '.join(args)}` failed: {stderr or exc}") from None

    # -- shallow clones and sync ------------------------------------------------------------

    def is_shallow(self) -> bool:
        return self._git("rev-parse", "--is-shallow-repository").strip() == "true"

    def has_origin(self) -> bool:
        return REMOTE in {remote.name for remote in self.repo.remotes}

    def sync_with_origin(self) -> None:
        """``git fetch --prune --prune-tags origin +refs/heads/*:refs/remotes/origin/*
        +refs/tags/*:refs/tags/*`` (``--unshallow`` too when shallow): origin's branches and tags
        become the references, deleted branches and local-only tags disappear."""
        if not self.has_origin():
            raise GitError(
                f"{self.path}: the repository has no remote {REMOTE!r} to synchronize with",
                hint="Add the remote the CI clones from (git remote add origin URL), or turn off "
                "gitWorktree.allowFetchOriginBranchesAndTags.",
            )
        args = ["fetch", "--quiet", "--prune", "--prune-tags"]
        if self.is_shallow():
            args.append("--unshallow")
        # With refspecs on the command line git ignores --prune-tags' implied tag refspec:
        # name it, or local-only tags would survive.
        self._git(*args, REMOTE, f"+refs/heads/*:{_BRANCH_PREFIX}*", f"+{_TAG_PREFIX}*:{_TAG_PREFIX}*")

    def check_not_shallow(self, allow_shallow: bool) -> None:
        """Refuse a shallow clone: its history is incomplete (SPEC §3)."""
        if not allow_shallow and self.is_shallow():
            raise GitError(
                f"{self.path}: the git repository is a shallow clone; its history is incomplete, so "
                "images built from commits outside the clone would lose their metadata",
                hint=SYNC_HINT,
            )

    def prepare(self, *, sync: bool, allow_shallow: bool) -> None:
        """Sync with origin when asked, then refuse a shallow clone unless allowed."""
        if sync:
            self.sync_with_origin()
        self.check_not_shallow(allow_shallow)

    # -- tables -----------------------------------------------------------------------------

    def references(self) -> pa.Table:
        """origin remote branches and tags as a REFS_SCHEMA table, sorted by kind and name."""
        out = self._git("for-each-ref", f"--format={_REF_FORMAT}", self.branch_prefix, _TAG_PREFIX)
        names, kinds, commits, dates = [], [], [], []
        for line in out.splitlines():
            refname, objtype, objname, created, peeled_type, peeled, peeled_date = line.split("\0")
            if refname.startswith(self.branch_prefix):
                name, kind = refname[len(self.branch_prefix) :], RefKind.BRANCH
                if name == "HEAD" or objtype != "commit":
                    continue
                sha, date = objname, created
            else:
                name, kind = refname[len(_TAG_PREFIX) :], RefKind.TAG
                if objtype == "commit":
                    sha, date = objname, created
                elif objtype == "tag" and peeled_type == "commit":
                    sha, date = peeled, created or peeled_date
                elif objtype == "tag" and peeled_type == "tag":
                    sha, date = self._peel_to_commit(refname), created
                    if sha is None:
                        continue
                    date = date or self._committer_time(sha)
                else:
                    continue  # a tag of a tree or blob: not a reference to scan
            names.append(name)
            kinds.append(kind.value)
            commits.append(sha)
            dates.append(int(date) * 1_000_000)
        table = pa.table([names, kinds, commits, dates], schema=REFS_SCHEMA)
        return table.sort_by([("kind", "ascending"), ("name", "ascending")])

    def _peel_to_commit(self, refname: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{refname}^{{commit}}").strip() or None
        except GitError:
            return None

    def _committer_time(self, sha: str) -> str:
        return self._git("show", "-s", "--format=%ct", sha).strip()

    def commits(self) -> pa.Table:
        """Every commit reachable from any ref, with parents and committer time (one pass).

        ``rev-list --timestamp --parents`` prints ``<time> <sha> <parent>...`` per commit; the
        output is split by Arrow, not Python, to keep up with git on 100,000-commit histories.
        """
        raw = self._git("rev-list", "--all", "--parents", "--timestamp", stdout_as_string=False).rstrip(b"\n")
        whole = pa.array([raw] if raw else [], pa.large_binary()).cast(pa.large_string())
        lines = pc.list_flatten(pc.split_pattern(whole, "\n")).cast(pa.string())
        fields = pc.split_pattern(lines, " ")
        times = pc.multiply(pc.cast(pc.list_element(fields, 0), pa.int64()), 1_000_000)
        committed_at = times.cast(COMMITS_SCHEMA.field("committed_at").type)
        return pa.Table.from_arrays([pc.list_element(fields, 1), pc.list_slice(fields, 2), committed_at], schema=COMMITS_SCHEMA)

    def existing_commits(self, shas: Iterable[str]) -> set[str]:
        """The subset of ``shas`` that are commits in the object database (one batch call)."""
        wanted = sorted({sha for sha in shas if isinstance(sha, str) and _SHA.match(sha)})
        if not wanted:
            return set()
        with tempfile.TemporaryFile() as stdin:
            stdin.write(("\n".join(wanted) + "\n").encode())
            stdin.seek(0)
            out = self._git("cat-file", "--batch-check=%(objectname) %(objecttype)", istream=stdin)
        found = set()
        for line in out.splitlines():
            sha, _, kind = line.partition(" ")
            if kind == "commit":
                found.add(sha)
        return found
