"""A template's text with its name and file, and positions as line and column."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """One template text: ``name`` is its template name, ``file`` what errors call it."""

    name: str
    text: str
    file: str
    _lines: list[int] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        index = self.text.find("\n")
        while index >= 0:
            starts.append(index + 1)
            index = self.text.find("\n", index + 1)
        object.__setattr__(self, "_lines", starts)

    def line_column(self, pos: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        line = bisect.bisect_right(self._lines, pos) - 1
        return line + 1, pos - self._lines[line] + 1


class SyntaxProblem(Exception):
    """A parse error at a character offset of the source being parsed."""

    def __init__(self, message: str, pos: int, function: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.function = function
