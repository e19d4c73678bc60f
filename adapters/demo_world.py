"""A small, realistic werf world for `stagesweep demo` and the benchmarks: a git repository
with an origin, branches, tags and merges spread over weeks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from git import Repo


def _git_env(when: datetime) -> dict[str, str]:
    stamp = f"{int(when.timestamp())} +0000"
    return {
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
        "GIT_AUTHOR_NAME": "Demo Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.invalid",
        "GIT_COMMITTER_NAME": "Demo Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.invalid",
    }


@dataclass
class GitWorld:
    """A clone (`work`) of a bare `origin`, with helpers that commit at chosen times."""

    root: Path
    work: Path = field(init=False)
    origin: Path = field(init=False)

    def __post_init__(self) -> None:
        self.origin = self.root / "origin.git"
        self.work = self.root / "project"
        Repo.init(self.origin, bare=True, initial_branch="main")
        self.repo = Repo.init(self.work, initial_branch="main")
        self.repo.create_remote("origin", str(self.origin))
        self.git = self.repo.git

    def commit(self, branch: str, when: datetime, message: str, files: dict[str, str] | None = None) -> str:
        if branch not in [h.name for h in self.repo.heads] and self.repo.head.is_valid():
            self.git.checkout("-q", "-b", branch)
        elif self.repo.head.is_valid():
            self.git.checkout("-q", branch)
        for name, text in (files or {"CHANGELOG": f"{message}\n"}).items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as fh:
                fh.write(text)
        self.git.add("-A")
        with self.git.custom_environment(**_git_env(when)):
            self.git.commit("-q", "-m", message)
        return self.repo.head.commit.hexsha

    def branch_from(self, name: str, start: str) -> None:
        self.git.checkout("-q", "-b", name, start)

    def merge(self, into: str, other: str, when: datetime) -> str:
        self.git.checkout("-q", into)
        with self.git.custom_environment(**_git_env(when)):
            self.git.merge("-q", "--no-ff", "-m", f"Merge {other} into {into}", other)
        return self.repo.head.commit.hexsha

    def tag(self, name: str, commit: str, when: datetime, annotated: bool = True) -> None:
        with self.git.custom_environment(**_git_env(when)):
            if annotated:
                self.git.tag("-a", name, "-m", f"release {name}", commit)
            else:
                self.git.tag(name, commit)

    def push_all(self) -> None:
        self.git.push("-q", "origin", "--all")
        self.git.push("-q", "origin", "--tags")

    def delete_origin_branch(self, name: str) -> None:
        self.git.push("-q", "origin", "--delete", name)
        self.git.fetch("-q", "--prune", "origin")


def weeks_ago(now: datetime, weeks: float = 0, days: float = 0, hours: float = 0) -> datetime:
    return now - timedelta(weeks=weeks, days=days, hours=hours)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


__all__ = ["GitWorld", "utc_now", "weeks_ago"]
