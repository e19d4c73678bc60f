"""Template errors: a ConfigError that also names the line, column and function."""

from __future__ import annotations

from schemas.errors import ConfigError


class TemplateError(ConfigError):
    """A werf.yaml template cannot be parsed or rendered.

    ``file`` is the source file (werf.yaml or a ``.werf/`` partial), ``line``/``column`` are
    1-based positions in that file, ``function`` is the template function or construct at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        function: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "")
        what = f"{function}: " if function else ""
        text = f"{where}: {what}{message}" if where else f"{what}{message}"
        super().__init__(text, file=file, hint=hint)
        self.line = line
        self.column = column
        self.function = function
        self.reason = message


class ExecError(Exception):
    """Raised by template functions; the evaluator adds file, line, column and the function name."""
