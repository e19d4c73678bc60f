"""Sprig's ``semver`` and ``semverCompare``: Masterminds/semver v3 versions and constraints."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gotemplate.errors import ExecError
from gotemplate.funcs import Func, FuncTable, table
from gotemplate.values import STRING, GoObject

_PRE = r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
_META = r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
_VERSION = re.compile(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?" + _PRE + _META + "$")
_CV = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?" + _PRE + _META
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_CONSTRAINT = re.compile(rf"^\s*({_OPS})\s*({_CV})\s*$")
_RANGE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_FIND = re.compile(rf"({_OPS})\s*({_CV})")
_VALID = re.compile(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*$")


class Version(GoObject):
    """A ``*semver.Version``: methods Major, Minor, Patch, Prerelease, Metadata, Original, String."""

    type_name = "*semver.Version"

    def __init__(self, text: str) -> None:
        match = _VERSION.match(text)
        if match is None:
            raise ExecError("Invalid Semantic Version")
        self.major = int(match.group(1))
        self.minor = int(match.group(2)[1:]) if match.group(2) else 0
        self.patch = int(match.group(3)[1:]) if match.group(3) else 0
        self.pre = match.group(5) or ""
        self.metadata = match.group(8) or ""
        self.original = text
        for part in self.pre.split(".") if self.pre else []:
            if part.isdigit() and len(part) > 1 and part.startswith("0"):
                raise ExecError("Version segment starts with 0")
        if max(self.major, self.minor, self.patch) >= 1 << 64:
            raise ExecError("Error parsing version segment: value out of range")

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + self.pre
        if self.metadata:
            text += "+" + self.metadata
        return text

    def go_format(self) -> str:
        return str(self)

    def marshal_text(self) -> str:
        """encoding.TextMarshaler: how yaml.Marshal (toYaml) writes a version."""
        return str(self)

    def compare(self, other: Version) -> int:
        for mine, theirs in ((self.major, other.major), (self.minor, other.minor), (self.patch, other.patch)):
            if mine != theirs:
                return -1 if mine < theirs else 1
        if self.pre == other.pre:
            return 0
        if not self.pre:
            return 1
        if not other.pre:
            return -1
        return _compare_prerelease(self.pre, other.pre)

    def method(self, name: str) -> Func | None:
        simple: dict[str, Callable[[], Any]] = {
            "Major": lambda: self.major,
            "Minor": lambda: self.minor,
            "Patch": lambda: self.patch,
            "Prerelease": lambda: self.pre,
            "Metadata": lambda: self.metadata,
            "Original": lambda: self.original,
            "String": lambda: str(self),
        }
        if name in simple:
            return Func(name, (), simple[name])
        compare: dict[str, Callable[[Version], Any]] = {
            "Compare": self.compare,
            "LessThan": lambda o: self.compare(o) < 0,
            "GreaterThan": lambda o: self.compare(o) > 0,
            "Equal": lambda o: self.compare(o) == 0,
        }
        if name in compare:
            return Func(name, (Version.type_name,), compare[name])
        return None


def _compare_prerelease(a: str, b: str) -> int:
    left, right = a.split("."), b.split(".")
    for x, y in zip(left, right):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit():
            return -1
        if y.isdigit():
            return 1
        return -1 if x < y else 1
    if len(left) == len(right):
        return 0
    return -1 if len(left) < len(right) else 1


class _Constraint:
    def __init__(self, text: str) -> None:
        match = _CONSTRAINT.match(text)
        if match is None:
            raise ExecError(f"improper constraint: {text}")
        self.op = match.group(1)
        major, minor, patch, pre = match.group(3), match.group(4), match.group(5), match.group(6) or ""
        self.minor_dirty = self.patch_dirty = self.dirty = False
        version = match.group(2)
        if _is_x(major):
            version, self.dirty = f"0.0.0{pre}", True
        elif not minor or _is_x(minor[1:]):
            version, self.minor_dirty, self.dirty = f"{major}.0.0{pre}", True, True
        elif not patch or _is_x(patch[1:]):
            version, self.patch_dirty, self.dirty = f"{major}{minor}.0{pre}", True, True
        try:
            self.con = Version(version)
        except ExecError:
            raise ExecError("constraint Parser Error") from None

    def check(self, v: Version) -> bool:
        con = self.con
        if v.pre and not con.pre:
            return False
        op = self.op
        if op in ("", "="):
            return self._tilde(v) if self.dirty else v.compare(con) == 0
        if op == "!=":
            return self._not_equal(v)
        if op == ">":
            if not self.dirty:
                return v.compare(con) == 1
            if v.major != con.major:
                return v.major > con.major
            if self.minor_dirty:
                return False
            if self.patch_dirty:
                return v.minor > con.minor
            return v.compare(con) == 1
        if op == "<":
            return v.compare(con) < 0
        if op in (">=", "=>"):
            return v.compare(con) >= 0
        if op in ("<=", "=<"):
            if not self.dirty:
                return v.compare(con) <= 0
            return not (v.major > con.major or (v.major == con.major and v.minor > con.minor and not self.minor_dirty))
        if op in ("~", "~>"):
            return self._tilde(v)
        return self._caret(v)

    def _tilde(self, v: Version) -> bool:
        con = self.con
        if v.compare(con) < 0:
            return False
        if con.major == con.minor == con.patch == 0 and not self.minor_dirty and not self.patch_dirty:
            return True
        return v.major == con.major and (v.minor == con.minor or self.minor_dirty)

    def _not_equal(self, v: Version) -> bool:
        con = self.con
        if self.dirty:
            if con.major != v.major:
                return True
            if con.minor != v.minor and not self.minor_dirty:
                return True
            if self.minor_dirty:
                return False
            if con.patch != v.patch and not self.patch_dirty:
                return True
            if self.patch_dirty:
                return bool((v.pre or con.pre) and _compare_prerelease(v.pre, con.pre) != 0)
        return v.compare(con) != 0

    def _caret(self, v: Version) -> bool:
        con = self.con
        if v.compare(con) < 0:
            return False
        if con.major > 0 or self.minor_dirty:
            return v.major == con.major
        if v.major > 0:
            return False
        if con.minor > 0 or self.patch_dirty:
            return v.minor == con.minor
        if v.minor > 0:
            return False
        return con.patch == v.patch


def _is_x(text: str) -> bool:
    return text in ("x", "X", "*")


def _rewrite_range(text: str) -> str:
    for match in list(_RANGE.finditer(text)):
        text = text.replace(match.group(0), f">= {match.group(1)}, <= {match.group(11)}", 1)
    return text


def semver_compare(constraint: str, version: str) -> bool:
    groups = []
    for part in _rewrite_range(constraint).split("||"):
        if not _VALID.match(part):
            raise ExecError(f"improper constraint: {part}")
        found = [m.group(0) for m in _FIND.finditer(part)] or [part]
        groups.append([_Constraint(text) for text in found])
    target = Version(version)
    return any(all(c.check(target) for c in group) for group in groups)


SEMVER: FuncTable = table(
    Func("semver", (STRING,), Version),
    Func("semverCompare", (STRING, STRING), semver_compare),
)
