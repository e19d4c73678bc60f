"""The engine's own errors: `TemplateError`, what parsing or rendering a template raises (naming
file, line, column and the function at fault), and `ExecError`, what template functions raise
inside the evaluator. The library depends on nothing of an application: an application maps
these to its own errors where it calls the engine."""

from __future__ import annotations


class TemplateError(Exception):
    """A template cannot be parsed or rendered.

    ``file`` is the source file shown to the user, ``line``/``column`` 1-based positions in it,
    ``function`` the template function or construct at fault, ``reason`` the bare message and
    ``hint`` what to do. ``str()`` reads ``FILE: line L, column C: FUNCTION: REASON``.
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
        self.file = file
        self.line = line
        self.column = column
        self.function = function
        self.reason = message
        self.hint = hint
        self.message = f"{file}: {self.position_text()}" if file is not None else self.position_text()
        super().__init__(self.message)

    def position_text(self) -> str:
        """``line L, column C: FUNCTION: REASON`` (the parts that are known)."""
        return position_text(self.reason, self.line, self.column, self.function)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


def position_text(reason: str, line: int | None, column: int | None, function: str | None) -> str:
    """``line L, column C: FUNCTION: REASON``, of the parts that are known."""
    where = ""
    if line is not None:
        where = f"line {line}" + (f", column {column}" if column is not None else "")
    what = f"{function}: " if function else ""
    return f"{where}: {what}{reason}" if where else f"{what}{reason}"


class ExecError(Exception):
    """Raised by template functions; the evaluator adds file, line, column and the function name."""
