"""Template errors: `TemplateError` (in schemas.errors: a ConfigError that also names the line,
column and function) and `ExecError`, what template functions raise inside the evaluator."""

from __future__ import annotations

from schemas.errors import TemplateError

__all__ = ["ExecError", "TemplateError"]


class ExecError(Exception):
    """Raised by template functions; the evaluator adds file, line, column and the function name."""
