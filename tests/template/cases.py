"""The shape of a corpus entry: a template with its partials, project files and environment."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "template": self.template, "partials": self.partials, "files": self.files, "env": self.env}


def cases(*entries: tuple[str, str] | Case) -> list[Case]:
    return [e if isinstance(e, Case) else Case(*e) for e in entries]
