"""werf.yaml's project files: the config itself, ``.werf/**/*.tmpl`` partials and ``.Files`` targets.

The template renderer (``schemas.gotemplate``) does no I/O; this reader gives it the files, always
relative to the project and never outside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from adapters.git_mirror import GitMirror, shown_url
from schemas.config import RenderedConfig, WerfConfig, parse_werf_config, render_werf_text
from schemas.errors import ConfigError

TEMPLATES_DIR = ".werf"  #: werf v1.1's default templates directory (--config-templates-dir)


class ProjectFiles:
    """Reads files relative to ``base`` (the werf.yaml's directory), refusing paths that leave it.

    ``read`` gives None for a missing file (werf v1.1 renders ``.Files.Get`` of it as "").
    """

    def __init__(self, base: str | Path, templates_dir: str | Path | None = None) -> None:
        self.base = Path(base).resolve()
        self.templates_dir = Path(templates_dir) if templates_dir is not None else self.base / TEMPLATES_DIR

    def _inside(self, relative: str) -> Path:
        if Path(relative).is_absolute():
            raise ValueError(f"{relative!r} is an absolute path; .Files reads paths relative to the project")
        path = (self.base / relative).resolve()
        if path != self.base and self.base not in path.parents:
            raise ValueError(f"{relative!r} points outside the project directory {self.base}")
        return path

    def read(self, path: str) -> str | None:
        target = self._inside(path)
        if not target.is_file():
            return None
        return target.read_bytes().decode("utf-8", "surrogateescape")

    def glob(self, pattern: str) -> Mapping[str, str]:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ValueError(f"{pattern!r} points outside the project directory {self.base}")
        found: dict[str, str] = {}
        for match in sorted(self.base.glob(pattern)):
            if match.is_file():
                relative = match.relative_to(self.base).as_posix()
                self._inside(relative)
                found[relative] = match.read_bytes().decode("utf-8", "surrogateescape")
        return found

    def partials(self) -> list[tuple[str, str, str]]:
        """``*.tmpl`` files under the templates directory: (name relative to it, text, shown path)."""
        if not self.templates_dir.is_dir():
            return []
        result = []
        for path in sorted(self.templates_dir.rglob("*.tmpl")):
            if path.is_file():
                name = path.relative_to(self.templates_dir).as_posix()
                try:
                    shown = path.relative_to(self.base).as_posix()
                except ValueError:
                    shown = str(path)
                result.append((name, path.read_bytes().decode("utf-8", "surrogateescape"), shown))
        return result


def _read_config(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=str(path), hint="Pass the werf.yaml with --config PATH.") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a werf.yaml file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=str(path)) from None


def _locate(project_dir: str | Path, config_path: str | Path) -> tuple[Path, ProjectFiles]:
    project = Path(project_dir)
    path = Path(config_path) if Path(config_path).is_absolute() else project / config_path
    return path, ProjectFiles(path.parent, project.resolve() / TEMPLATES_DIR)


def render_werf_config(
    project_dir: str | Path, config_path: str | Path = "werf.yaml", environ: Mapping[str, str] | None = None
) -> RenderedConfig:
    """werf.yaml rendered as werf renders it (``stagesweep config render``): text and env names read."""
    path, files = _locate(project_dir, config_path)
    return render_werf_text(_read_config(path), file=str(path), environ=environ, files=files)


def load_werf_config(
    project_dir: str | Path, config_path: str | Path = "werf.yaml", environ: Mapping[str, str] | None = None
) -> WerfConfig:
    """Read, render and validate the project's werf.yaml with its partials and files."""
    path, files = _locate(project_dir, config_path)
    return parse_werf_config(_read_config(path), file=str(path), environ=environ, files=files)


class GitProjectFiles:
    """The same reads as `ProjectFiles`, from a commit of a git mirror (``git show``, no work tree).

    ``base`` is the werf.yaml's directory inside the repository ("" for its root)."""

    def __init__(self, mirror: GitMirror, commit: str, base: str = "", templates_dir: str = TEMPLATES_DIR) -> None:
        self.mirror, self.commit = mirror, commit
        self.base = PurePosixPath(base) if base not in ("", ".") else PurePosixPath()
        self.templates_dir = templates_dir

    def _inside(self, relative: str) -> str:
        if PurePosixPath(relative).is_absolute():
            raise ValueError(f"{relative!r} is an absolute path; .Files reads paths relative to the project")
        parts: list[str] = list(self.base.parts)
        for part in PurePosixPath(relative).parts:
            if part == "..":
                if len(parts) <= len(self.base.parts):
                    raise ValueError(f"{relative!r} points outside the project directory")
                parts.pop()
            elif part != ".":
                parts.append(part)
        return "/".join(parts)

    def _text(self, path: str) -> str | None:
        data = self.mirror.show(self.commit, path)
        return None if data is None else data.decode("utf-8", "surrogateescape")

    def read(self, path: str) -> str | None:
        return self._text(self._inside(path))

    def glob(self, pattern: str) -> Mapping[str, str]:
        if PurePosixPath(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
            raise ValueError(f"{pattern!r} points outside the project directory")
        regex = re.compile(_glob_regex(pattern))
        prefix = str(self.base) + "/" if self.base.parts else ""
        found: dict[str, str] = {}
        for path in sorted(self.mirror.files(self.commit, str(self.base) if self.base.parts else "")):
            relative = path[len(prefix) :]
            if regex.fullmatch(relative):
                text = self._text(path)
                if text is not None:
                    found[relative] = text
        return found

    def partials(self) -> list[tuple[str, str, str]]:
        result = []
        for path in sorted(self.mirror.files(self.commit, self.templates_dir)):
            if path.endswith(".tmpl"):
                text = self._text(path)
                if text is not None:
                    result.append((path[len(self.templates_dir) + 1 :], text, path))
        return result


def _glob_regex(pattern: str) -> str:
    """A pathlib-style glob (``*``, ``?``, ``[...]``, ``**``) as a regular expression."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            out.append("[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def load_werf_config_from_git(
    mirror: GitMirror, ref: str | None, config_path: str = "werf.yaml", environ: Mapping[str, str] | None = None
) -> WerfConfig:
    """The werf.yaml (with its ``.werf/`` partials and files) of a ref of a git mirror, validated."""
    commit = mirror.resolve(ref)
    path = PurePosixPath(config_path)
    if path.is_absolute() or ".." in path.parts:
        raise ConfigError("must be a path inside the repository", file=config_path)
    shown = f"{shown_url(mirror.url)}@{ref or 'HEAD'}:{path}"
    data = mirror.show(commit, str(path))
    if data is None:
        raise ConfigError("config file not found", file=shown, hint="Pass the ref that has the werf.yaml with --config-ref REF.")
    files = GitProjectFiles(mirror, commit, str(path.parent))
    return parse_werf_config(data.decode("utf-8", "surrogateescape"), file=shown, environ=environ, files=files)
