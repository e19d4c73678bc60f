"""werf.yaml rendered the way werf renders it (SPEC §2): a Go template (``gotemplate``) with
Sprig and werf's functions, ``.werf/`` partials and ``.Files``; the engine's errors become the
application's :class:`~schemas.errors.TemplateError` (a ``ConfigError``) here.

Reading the rendered text into the werf.yaml model: :mod:`schemas.config`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gotemplate import MAIN_TEMPLATE, Commit, Rendered, Source
from gotemplate import render as render_template
from gotemplate.errors import ExecError
from gotemplate.errors import TemplateError as EngineTemplateError
from schemas.errors import TemplateError

__all__ = ["RenderedConfig", "WerfFiles", "loose_giterminism", "render_werf_text"]


class WerfFiles(Protocol):
    """The project files a template may read: ``.werf/**/*.tmpl`` partials and ``.Files`` targets.

    ``adapters.werf_files.ProjectFiles`` reads them from a project directory.
    """

    def read(self, path: str) -> str | None: ...

    def glob(self, pattern: str) -> Mapping[str, str]: ...

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def partials(self) -> Sequence[tuple[str, str, str]]:
        """(template name relative to .werf, text, file name for messages), in werf's walk order."""
        ...


@dataclass(frozen=True)
class RenderedConfig:
    """werf.yaml after template rendering, as ``stagesweep config render`` prints it."""

    file: str  #: the werf.yaml it came from
    text: str  #: the rendered text (the file's own bytes when it has no template actions)
    env_names: tuple[str, ...]  #: environment variables the templates read with ``env`` (sorted)
    templated: bool  #: whether the file contained template actions
    rendering: Rendered | None = field(default=None, repr=False, compare=False)

    def where(self, line: int | None) -> str:
        """'line N' in the source template for a rendered line (plus the rendered line when they differ)."""
        if line is None:
            return ""
        origin = self.rendering.origin(line) if self.rendering is not None else None
        if origin is None:
            return f"line {line}" if not self.templated else f"rendered line {line}"
        source_file, source_line = origin
        text = f"line {source_line}" + (f" of {source_file}" if source_file != self.file else "")
        return text if source_line == line and source_file == self.file else f"{text} (rendered line {line})"


class _NoFiles:
    """Stands in when no project directory was given: reading a project file is an error."""

    def _refuse(self, what: str) -> ExecError:
        return ExecError(f"cannot {what}: no project directory given; read the config with adapters.werf_files.load_werf_config")

    def read(self, path: str) -> str | None:
        raise self._refuse(f"read {path!r}")

    def glob(self, pattern: str) -> Mapping[str, str]:
        raise self._refuse(f"glob {pattern!r}")

    def exists(self, path: str) -> bool:
        raise self._refuse(f"look for {path!r}")

    def is_dir(self, path: str) -> bool:
        raise self._refuse(f"look for {path!r}")

    def partials(self) -> Sequence[tuple[str, str, str]]:
        return ()


def loose_giterminism(environ: Mapping[str, str]) -> bool:
    """werf's ``--loose-giterminism`` from its environment variable (``1``, ``true`` or ``yes``)."""
    return environ.get("WERF_LOOSE_GITERMINISM", "").strip().lower() in ("1", "true", "yes")


def render_werf_text(
    text: str,
    *,
    file: str = "werf.yaml",
    environ: Mapping[str, str] | None = None,
    files: WerfFiles | None = None,
    werf_env: str | None = None,
    commit: Commit | None = None,
    werf2: bool = False,
) -> RenderedConfig:
    """Render werf.yaml ``text`` as werf does (Go template, Sprig, werf's functions); pure.

    ``environ`` is the environment ``env`` reads (None: an empty one); ``werf_env`` and ``commit``
    are werf v1.2's ``.Env`` and ``.Commit`` (None: missing keys, as in werf v1.1). ``werf2``
    renders as werf 2.x does (``toYaml``, ``.Env`` always set, ``.Files.Get`` of a missing file
    and ``env`` of an unset variable without a default are errors — the latter not with
    ``WERF_LOOSE_GITERMINISM`` set in ``environ``, werf's loose giterminism). Text without
    ``{{`` is returned unchanged. Raises TemplateError (a ConfigError) naming file, line, column,
    function.
    """
    if "{{" not in text:
        return RenderedConfig(file, text, (), False)
    project = files if files is not None else _NoFiles()
    partials = [Source(name, body, shown) for name, body, shown in project.partials()]
    try:
        rendered = render_template(
            Source(MAIN_TEMPLATE, text, file),
            partials,
            environ=environ,
            files=project,
            werf_env=werf_env,
            commit=commit,
            werf2=werf2,
            loose_giterminism=loose_giterminism(environ or {}),
        )
    except EngineTemplateError as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError.of_engine(exc) from None
    return RenderedConfig(file, rendered.text, rendered.env_names, True, rendered)
