"""Sprig's regular expression functions, with Go's RE2 semantics where Python's ``re`` differs."""

from __future__ import annotations

import re

from gotemplate.errors import ExecError
from gotemplate.funcs import Func, FuncTable, alias, table
from gotemplate.values import INT, STRING, StrList

_RE2_ONLY = re.compile(r"\\[pP]|\[\[:|\\Q|\(\?U|\\C")


def _translate(pattern: str) -> str:
    """RE2 → Python: ``\\z`` is Python's ``\\Z``; ``$`` without (?m) matches only at the very end."""
    multiline = re.search(r"\(\?[a-zA-Z]*m", pattern) is not None
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append("\\Z" if pair == "\\z" and not in_class else pair)
            i += 2
            continue
        if in_class:
            in_class = char != "]" or pattern[i - 1] == "["
        elif char == "[":
            in_class = True
        elif char == "$" and not multiline:
            char = "\\Z"
        out.append(char)
        i += 1
    return "".join(out)


def _regex_match(pattern: str, text: str) -> bool:
    if _RE2_ONLY.search(pattern):
        _compile(pattern)
    try:
        regex = re.compile(_translate(pattern))
    except re.error:
        return False  # Sprig's regexMatch ignores an invalid pattern
    return regex.search(text) is not None


def _compile(pattern: str) -> re.Pattern[str]:
    if _RE2_ONLY.search(pattern):
        raise ExecError(
            f"regular expression `{pattern}` uses RE2 syntax the renderer does not support "
            "(Unicode classes \\p, POSIX [[:class:]], \\Q, (?U), \\C)"
        )
    try:
        return re.compile(_translate(pattern))
    except re.error as exc:
        raise ExecError(f"error parsing regexp: {exc}: `{pattern}`") from None


def _matches(regex: re.Pattern[str], text: str, limit: int) -> list[re.Match[str]]:
    out: list[re.Match[str]] = []
    previous_end = -1
    if limit == 0:
        return out
    for match in regex.finditer(text):
        if match.start() == match.end() and match.start() == previous_end:
            continue
        out.append(match)
        previous_end = match.end()
        if 0 < limit <= len(out):
            break
    return out


def _expand(template: str, match: re.Match[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char != "$" or i + 1 >= len(template):
            out.append(char)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            close = template.find("}", i + 2)
            name = template[i + 2 : close] if close > 0 else ""
            if close < 0 or not name or not re.fullmatch(r"\w+", name):
                out.append("$")
                i += 1
                continue
            end = close + 1
        else:
            found = re.match(r"\w+", template[i + 1 :])
            if not found:
                out.append("$")
                i += 1
                continue
            name = found.group(0)
            end = i + 1 + len(name)
        out.append(_group(match, name))
        i = end
    return "".join(out)


def _group(match: re.Match[str], name: str) -> str:
    try:
        value = match.group(int(name)) if name.isdigit() else match.group(name)
    except IndexError:
        return ""
    return value or ""


def _replace_all(pattern: str, text: str, replacement: str, literal: bool) -> str:
    regex = _compile(pattern)
    out: list[str] = []
    last = 0
    for match in _matches(regex, text, -1):
        out.append(text[last : match.start()])
        out.append(replacement if literal else _expand(replacement, match))
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def _regex_split(pattern: str, text: str, limit: int) -> StrList:
    if limit == 0:
        return StrList()
    regex = _compile(pattern)
    if pattern and not text:
        return StrList([""])
    parts = StrList()
    begin = end = 0
    for match in _matches(regex, text, limit):
        if limit > 0 and len(parts) == limit - 1:
            break
        end = match.start()
        if match.end() != 0:
            parts.append(text[begin:end])
        begin = match.end()
    if end != len(text):
        parts.append(text[begin:])
    return parts


def _regex_find(pattern: str, text: str) -> str:
    match = _compile(pattern).search(text)
    return match.group(0) if match else ""


def _regex_find_all(pattern: str, text: str, limit: int) -> StrList:
    return StrList(m.group(0) for m in _matches(_compile(pattern), text, limit))


REGEX: FuncTable = table(
    Func("regexMatch", (STRING, STRING), _regex_match),
    Func("mustRegexMatch", (STRING, STRING), lambda p, t: _compile(p).search(t) is not None),
    Func("regexFind", (STRING, STRING), _regex_find),
    Func("regexFindAll", (STRING, STRING, INT), _regex_find_all),
    Func("regexReplaceAll", (STRING, STRING, STRING), lambda p, t, r: _replace_all(p, t, r, False)),
    Func("regexReplaceAllLiteral", (STRING, STRING, STRING), lambda p, t, r: _replace_all(p, t, r, True)),
    Func("regexSplit", (STRING, STRING, INT), _regex_split),
    Func("regexQuoteMeta", (STRING,), lambda t: re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", t)),
)
REGEX.update(
    {
        n: alias(REGEX[src], n)
        for n, src in (
            ("mustRegexFind", "regexFind"),
            ("mustRegexFindAll", "regexFindAll"),
            ("mustRegexReplaceAll", "regexReplaceAll"),
            ("mustRegexReplaceAllLiteral", "regexReplaceAllLiteral"),
            ("mustRegexSplit", "regexSplit"),
        )
    }
)
