"""The shape of a corpus entry: a template with its partials, project files and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_ENV = {
    "E": "v",
    "EMPTY": "",
    "CI_COMMIT_REF_NAME": "feature/ABC-12_Login",
    "WERF_ENV": "production",
    "KEEP_BRANCHES": "10",
}


@dataclass(frozen=True)
class Case:
    name: str
    template: str
    partials: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ENV))
    werf_env: str | None = None  #: werf v1.2's .Env (None: werf v1.1's data, where it is missing)
    commit: tuple[str, datetime] | None = None  #: werf v1.2's .Commit: hash and committer time
    werf2: bool = False  #: rendered as werf 2.x renders werf.yaml (a --repo project)
    loose: bool = False  #: werf's --loose-giterminism (WERF_LOOSE_GITERMINISM)

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "name": self.name,
            "template": self.template,
            "partials": self.partials,
            "files": self.files,
            "env": self.env,
        }
        if self.werf_env is not None:
            data["werfEnv"] = self.werf_env
        if self.commit is not None:
            data["commit"] = commit_json(*self.commit)
        if self.werf2:
            data["werf2"] = True
            data["loose"] = self.loose
        return data


def commit_json(sha: str, time: datetime) -> dict[str, str]:
    """The commit as the Go reference takes it, formatted the way werf formats it (Go's time.String)."""
    offset = time.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset else 0
    zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return {"hash": sha, "human": f"{time:%Y-%m-%d %H:%M:%S} {zone} {zone}", "unix": str(int(time.timestamp()))}


def cases(*entries: tuple[str, str] | Case) -> list[Case]:
    return [e if isinstance(e, Case) else Case(*e) for e in entries]
