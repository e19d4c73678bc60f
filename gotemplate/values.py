"""Go values as Python values, and the few facts about Go types the evaluator needs.

string → ``str``, bool → ``bool``, int → ``int``, int64 → :class:`Int64`, float64 → ``float``,
``[]interface{}`` → ``list``, ``[]string`` → :class:`StrList`, ``[]int`` → :class:`IntList`,
``map[string]interface{}`` → ``dict``, ``map[interface{}]interface{}`` → :class:`AnyMap`,
a nil interface → ``None`` and Go's invalid value (a missing map key) → :data:`MISSING`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from gotemplate.funcs import Func


class _Missing:
    """Go's invalid reflect.Value: what a missing map key gives; prints as ``<no value>``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class Int64(int):
    """A Go int64 (what Sprig's arithmetic returns)."""

    def __repr__(self) -> str:
        return f"Int64({int(self)})"


class StrList(list[Any]):
    """A Go ``[]string``."""


class IntList(list[Any]):
    """A Go ``[]int``."""


class StrMap(dict[str, Any]):
    """A Go ``map[string]string`` (Sprig's ``split``)."""


class AnyMap(dict[Any, Any]):
    """A Go ``map[interface{}]interface{}`` (nested mappings from ``fromYaml``)."""


class GoObject:
    """A Go struct value with methods (``.Files``, a semver version)."""

    type_name = "struct {}"

    def method(self, name: str) -> Func | None:
        return None

    def field(self, name: str) -> tuple[bool, Any]:
        return False, None

    def go_format(self) -> str:
        return "{}"


# Parameter types of template functions, spelt the way Go prints them.
ANY: Final = "interface {}"
VALUE: Final = "reflect.Value"
STRING: Final = "string"
INT: Final = "int"
INT64: Final = "int64"
FLOAT64: Final = "float64"
BOOL: Final = "bool"
LIST: Final = "[]interface {}"
STRINGS: Final = "[]string"
DICT: Final = "map[string]interface {}"

NILLABLE: Final = frozenset({ANY, VALUE, LIST, STRINGS, DICT})
INTEGER_TYPES: Final = frozenset({INT, INT64})


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def go_type(value: Any) -> str:
    """The Go type name of a value, as ``%T`` prints it."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, Int64):
        return INT64
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT64
    if isinstance(value, str):
        return STRING
    if isinstance(value, bytes):
        return "[]uint8"
    if isinstance(value, StrList):
        return STRINGS
    if isinstance(value, IntList):
        return "[]int"
    if isinstance(value, list):
        return LIST
    if isinstance(value, AnyMap):
        return "map[interface {}]interface {}"
    if isinstance(value, StrMap):
        return "map[string]string"
    if isinstance(value, dict):
        return DICT
    if isinstance(value, GoObject):
        return value.type_name
    return type(value).__name__


def go_kind(value: Any) -> str:
    """The reflect kind name (Sprig's ``kindOf``)."""
    if value is None or value is MISSING:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if is_int(value):
        return "int64" if isinstance(value, Int64) else "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, bytes)):
        return "slice"
    if isinstance(value, dict):
        return "map"
    return "struct"


def assignable(value: Any, param: str) -> bool:
    """Can a value of this Go type be passed where ``param`` is expected?"""
    if param in (ANY, VALUE):
        return True
    return go_type(value) == param


def truth(value: Any) -> bool:
    """Go template truth: false, 0, nil, empty string/list/map are false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, (str, list, dict, bytes, bool)):
        return bool(value)
    if isinstance(value, (int, float)):
        return value != 0
    return True


def empty(value: Any) -> bool:
    """Sprig's ``empty``."""
    return not truth(value)
