"""How template functions are described: Go parameter types, variadic element type, implementation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Func:
    """A template function. ``params`` are Go types (see values.py); ``variadic`` is the ``...`` type.

    With ``needs_state`` the implementation gets the executing state first (include, tpl, env).
    """

    name: str
    params: tuple[str, ...]
    impl: Callable[..., Any]
    variadic: str | None = None
    needs_state: bool = False


FuncTable = dict[str, Func]


def table(*funcs: Func) -> FuncTable:
    return {f.name: f for f in funcs}


def fn(name: str, *params: str, variadic: str | None = None, needs_state: bool = False) -> Callable[[Callable[..., Any]], Func]:
    """Decorator: ``@fn("trim", STRING)`` turns a Python function into a :class:`Func`."""

    def wrap(impl: Callable[..., Any]) -> Func:
        return Func(name, params, impl, variadic, needs_state)

    return wrap


def alias(func: Func, name: str) -> Func:
    return Func(name, func.params, func.impl, func.variadic, func.needs_state)
