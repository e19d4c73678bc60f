"""A process-local progress hook: the CLI installs a reporter, the deletion steps drive it."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


_reporter: Reporter | None = None


def install(reporter: Reporter | None) -> None:
    global _reporter
    _reporter = reporter


def start(total: int) -> None:
    if _reporter is not None:
        _reporter.start(total)


def advance(n: int) -> None:
    if _reporter is not None and n:
        _reporter.advance(n)
