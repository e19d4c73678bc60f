"""A process-local progress hook: the CLI installs a callback, deletion tasks advance it."""

from __future__ import annotations

from collections.abc import Callable

_callback: Callable[[int], None] | None = None


def install(callback: Callable[[int], None] | None) -> None:
    global _callback
    _callback = callback


def advance(n: int) -> None:
    if _callback is not None and n:
        _callback(n)
