"""werf.yaml's project files: the config itself, ``.werf/**/*.tmpl`` partials and ``.Files`` targets.

The template renderer (``gotemplate``) does no I/O; this reader gives it the files the way werf
reads them — a path is joined to the werf.yaml's directory (a leading ``/`` too), ``.Files.Glob``
matches werf's doublestar patterns — but never a file outside the project.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath

from adapters.git_mirror import GitMirror, shown_url
from gotemplate import Commit
from gotemplate.glob import BadPattern, compile_pattern, go_clean, literal_prefix
from schemas.config import WerfConfig, parse_werf_config
from schemas.errors import ConfigError
from schemas.werf_rendering import RenderedConfig, render_werf_text

TEMPLATES_DIR = ".werf"  #: werf v1.1's default templates directory (--config-templates-dir)


def project_relative(path: str) -> str:
    """A ``.Files`` path as werf joins it to the project directory: cleaned, a leading ``/``
    dropped ("." for the directory itself); a path that leaves the project is refused."""
    cleaned = go_clean(path.replace(os.sep, "/").lstrip("/"))
    if cleaned == ".." or cleaned.startswith("../"):
        raise ValueError(f"{path!r} points outside the project directory")
    return cleaned


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _glob_pattern(pattern: str) -> tuple[str, list[str]]:
    """The pattern relative to the project and the directories werf walks from (its literal start)."""
    relative = project_relative(pattern)
    try:
        compile_pattern(relative)
    except BadPattern as exc:
        raise ValueError(f"{exc}; see the doublestar pattern syntax in docs/werf-templates.md") from None
    parts = [] if relative == "." else relative.split("/")
    return relative, literal_prefix(parts)


class ProjectFiles:
    """Reads files relative to ``base`` (the werf.yaml's directory), refusing paths that leave it.

    ``read`` gives None for a missing file (werf v1.1 renders ``.Files.Get`` of it as "").
    """

    def __init__(self, base: str | Path, templates_dir: str | Path | None = None) -> None:
        self.base = Path(base).resolve()
        self.templates_dir = Path(templates_dir) if templates_dir is not None else self.base / TEMPLATES_DIR

    def _inside(self, relative: str) -> Path:
        cleaned = project_relative(relative)
        path = (self.base / cleaned).resolve()
        if path != self.base and self.base not in path.parents:
            raise ValueError(f"{relative!r} points outside the project directory {self.base}")
        return path

    def read(self, path: str) -> str | None:
        target = self._inside(path)
        if not target.is_file():
            return None
        return _decode(target.read_bytes())

    def exists(self, path: str) -> bool:
        try:
            return self._inside(path).exists()
        except ValueError:
            return False

    def is_dir(self, path: str) -> bool:
        try:
            return self._inside(path).is_dir()
        except ValueError:
            return False

    def _walk(self, path: Path) -> Iterator[Path]:
        """``path`` and everything under it, in Go's filepath.Walk order; symlinks not followed."""
        yield path
        if path.is_dir() and not path.is_symlink():
            try:
                names = sorted(os.listdir(path))
            except OSError:
                return
            for name in names:
                yield from self._walk(path / name)

    def glob(self, pattern: str) -> Mapping[str, str]:
        """werf v1.1's ``.Files.Glob``: every file whose project-relative path matches."""
        relative, prefix = _glob_pattern(pattern)
        compiled = compile_pattern(relative)
        start = self.base.joinpath(*prefix)
        found: dict[str, str] = {}
        if not os.path.lexists(start):
            return found
        for path in self._walk(start):
            name = path.relative_to(self.base).as_posix()
            if (path.is_dir() and not path.is_symlink()) or not compiled.match(name):
                continue
            target = self._inside(name)  # a symlink is read where it points, inside the project
            if target.is_dir():
                continue
            if not target.exists():
                return {}  # a dangling symlink makes werf's walk fail: no files at all
            found[name] = _decode(target.read_bytes())
        return found

    def partials(self) -> list[tuple[str, str, str]]:
        """``*.tmpl`` files under the templates directory in walk order: (name relative to it, text,
        shown path)."""
        if not self.templates_dir.is_dir():
            return []
        result = []
        for path in self._walk(self.templates_dir):
            if path.name.endswith(".tmpl") and path.is_file():
                name = path.relative_to(self.templates_dir).as_posix()
                try:
                    shown = path.relative_to(self.base).as_posix()
                except ValueError:
                    shown = str(path)
                result.append((name, _decode(path.read_bytes()), shown))
        return result

    def commit(self) -> Commit | None:
        """The HEAD commit of the git work tree holding the project (werf v1.2's ``.Commit``), if any."""
        try:
            done = subprocess.run(
                ["git", "log", "-1", "--format=%H %cI", "HEAD"],
                cwd=self.base,
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return _commit_from(done.stdout) if done.returncode == 0 else None


def _commit_from(line: str) -> Commit | None:
    parts = line.split()
    if len(parts) != 2:
        return None
    try:
        return Commit(parts[0], datetime.fromisoformat(parts[1]))
    except ValueError:
        return None


def _read_config(path: Path) -> str:
    """The file's text, its bytes kept as they are (CRLF line ends stay CRLF, as in werf)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=str(path), hint="Pass the werf.yaml with --config PATH.") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a werf.yaml file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=str(path)) from None


DEFAULT_CONFIG = "werf.yaml"
OTHER_DEFAULT_CONFIG = "werf.yml"  #: werf's other default name, read when there is no werf.yaml


def _locate(project_dir: str | Path, config_path: str | Path) -> tuple[Path, ProjectFiles]:
    project = Path(project_dir)
    path = Path(config_path) if Path(config_path).is_absolute() else project / config_path
    if str(config_path) == DEFAULT_CONFIG and not path.exists() and (project / OTHER_DEFAULT_CONFIG).is_file():
        path = project / OTHER_DEFAULT_CONFIG
    return path, ProjectFiles(path.parent, project.resolve() / TEMPLATES_DIR)


def template_env(werf_env: str, environ: Mapping[str, str] | None, werf2: bool) -> str:
    """``.Env``: werf's ``--env``; for werf 2.x, when it is not given, ``WERF_ENV`` (what
    ``werf ci-env`` and CI jobs set), as werf 2.x reads its options from the environment."""
    if werf_env or not werf2:
        return werf_env
    return (environ or {}).get("WERF_ENV", "")


def render_werf_config(
    project_dir: str | Path,
    config_path: str | Path = "werf.yaml",
    environ: Mapping[str, str] | None = None,
    werf_env: str = "",
    commit: Commit | None = None,
    *,
    werf2: bool = False,
) -> RenderedConfig:
    """werf.yaml rendered as werf renders it (``stagesweep config render``): text and env names read.

    ``werf_env`` is werf's ``--env`` (``.Env``); ``.Commit`` is ``commit``, else the HEAD of the
    project's git work tree (missing outside one). ``werf2``: as werf 2.x renders it (a
    ``--repo`` project; see :func:`schemas.werf_rendering.render_werf_text`)."""
    path, files = _locate(project_dir, config_path)
    text = _read_config(path)
    return render_werf_text(
        text,
        file=str(path),
        environ=environ,
        files=files,
        werf_env=template_env(werf_env, environ, werf2),
        commit=commit or files.commit(),
        werf2=werf2,
    )


def load_werf_config(
    project_dir: str | Path,
    config_path: str | Path = "werf.yaml",
    environ: Mapping[str, str] | None = None,
    werf_env: str = "",
    *,
    werf2: bool = False,
) -> WerfConfig:
    """Read, render and validate the project's werf.yaml with its partials and files.

    ``werf2``: read it as werf 2.x does, for a werf 1.2/2.x repository (``--repo``): werf 2.x's
    functions and data, ``.Env`` from ``WERF_ENV`` when ``werf_env`` is "", upper-case image
    names; werf v1.1's rules otherwise."""
    path, files = _locate(project_dir, config_path)
    return parse_werf_config(
        _read_config(path),
        file=str(path),
        environ=environ,
        files=files,
        werf_env=template_env(werf_env, environ, werf2),
        commit=files.commit(),
        werf2=werf2,
    )


class GitProjectFiles:
    """The same reads as `ProjectFiles`, from a commit of a git mirror (``git show``, no work tree).

    ``base`` is the werf.yaml's directory inside the repository ("" for its root)."""

    def __init__(self, mirror: GitMirror, commit: str, base: str = "", templates_dir: str = TEMPLATES_DIR) -> None:
        self.mirror, self.commit_sha = mirror, commit
        self.base = PurePosixPath(base) if base not in ("", ".") else PurePosixPath()
        self.templates_dir = templates_dir
        self._listing: list[str] | None = None

    def _inside(self, relative: str) -> str:
        cleaned = project_relative(relative)
        return str(self.base / cleaned) if cleaned != "." else str(self.base)

    def _text(self, path: str) -> str | None:
        data = self.mirror.show(self.commit_sha, path)
        return None if data is None else _decode(data)

    def _files(self) -> list[str]:
        """Every file of the project at the commit, relative to ``base``."""
        if self._listing is None:
            prefix = str(self.base) + "/" if self.base.parts else ""
            listed = self.mirror.files(self.commit_sha, str(self.base) if self.base.parts else "")
            self._listing = sorted(path[len(prefix) :] for path in listed)
        return self._listing

    def read(self, path: str) -> str | None:
        return self._text(self._inside(path))

    def exists(self, path: str) -> bool:
        try:
            relative = project_relative(path)
        except ValueError:
            return False
        return relative == "." or relative in self._files() or self.is_dir(path)

    def is_dir(self, path: str) -> bool:
        try:
            relative = project_relative(path)
        except ValueError:
            return False
        return relative == "." or any(name.startswith(relative + "/") for name in self._files())

    def glob(self, pattern: str) -> Mapping[str, str]:
        relative, _ = _glob_pattern(pattern)
        compiled = compile_pattern(relative)
        found: dict[str, str] = {}
        for name in self._files():
            if compiled.match(name):
                text = self._text(str(self.base / name))
                if text is not None:
                    found[name] = text
        return found

    def partials(self) -> list[tuple[str, str, str]]:
        result = []
        listed = self.mirror.files(self.commit_sha, self.templates_dir)
        for path in sorted(listed, key=lambda p: p.split("/")):
            if path.endswith(".tmpl"):
                text = self._text(path)
                if text is not None:
                    result.append((path[len(self.templates_dir) + 1 :], text, path))
        return result

    def commit(self) -> Commit | None:
        return _commit_from(self.mirror.commit_line(self.commit_sha))


def load_werf_config_from_git(
    mirror: GitMirror,
    ref: str | None,
    config_path: str = "werf.yaml",
    environ: Mapping[str, str] | None = None,
    werf_env: str = "",
    *,
    werf2: bool = False,
) -> WerfConfig:
    """The werf.yaml (with its ``.werf/`` partials and files) of a ref of a git mirror, validated
    (``werf2``: as :func:`load_werf_config`)."""
    commit = mirror.resolve(ref)
    path = PurePosixPath(config_path)
    if path.is_absolute() or ".." in path.parts:
        raise ConfigError("must be a path inside the repository", file=config_path)
    shown = f"{shown_url(mirror.url)}@{ref or 'HEAD'}:{path}"
    data = mirror.show(commit, str(path))
    if data is None:
        raise ConfigError("config file not found", file=shown, hint="Pass the ref that has the werf.yaml with --config-ref REF.")
    files = GitProjectFiles(mirror, commit, str(path.parent))
    return parse_werf_config(
        _decode(data),
        file=shown,
        environ=environ,
        files=files,
        werf_env=template_env(werf_env, environ, werf2),
        commit=files.commit(),
        werf2=werf2,
    )
