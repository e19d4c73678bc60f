"""werf's glob patterns (``.Files.Glob``): the doublestar syntax, matched against ``/``-separated paths.

werf matches every path of the project against the pattern with bmatcuk/doublestar's
``PathMatch``; this module gives the same answers, pure and without touching the file system:

* ``*`` any run of characters but ``/``; ``?`` one character but ``/``;
* ``**`` as a whole path component: any number of components, none included;
  elsewhere (``a**``, ``**b``) it is a plain ``*``;
* ``[abc]``, ``[a-z]``, ``[^a-z]`` one character of (or not of) a class; ``\\x`` the character x;
* ``{a,b,c}`` alternatives, nested and across ``/`` (``{src/**/*.go,go.mod}``).

A malformed pattern (an unclosed ``[`` or ``{``, an empty class, a misplaced ``-``) raises
:class:`BadPattern`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["BadPattern", "Pattern", "compile_pattern", "go_clean", "literal_prefix", "match"]

SPECIAL = "*?[{\\"  #: characters that make a path component a pattern (werf's literal-prefix rule)


class BadPattern(Exception):
    """The pattern is malformed (Go's ``syntax error in pattern``)."""

    def __init__(self, pattern: str, why: str) -> None:
        super().__init__(f"syntax error in pattern {pattern!r}: {why}")


# --- one path component: tokens and matching ---------------------------------------------------

_STAR = ("*",)
_ONE = ("?",)


@dataclass(frozen=True)
class _Class:
    ranges: tuple[tuple[str, str], ...]
    negated: bool

    def accepts(self, char: str) -> bool:
        inside = any(low <= char <= high for low, high in self.ranges)
        return inside != self.negated


_Token = tuple[str] | str | _Class  # _STAR, _ONE, a literal character, a class


def _parse_class(body: str, pattern: str) -> _Class:
    if not body:
        raise BadPattern(pattern, "empty character class")
    negated = body[0] == "^"
    index = 1 if negated else 0
    ranges: list[tuple[str, str]] = []
    while index < len(body):
        low = body[index]
        if low == "-":
            raise BadPattern(pattern, "'-' at the start of a range")
        index += 1
        if low == "\\":
            if index >= len(body):
                raise BadPattern(pattern, "trailing '\\' in a character class")
            low = body[index]
            index += 1
        high = low
        if index < len(body) and body[index] == "-":
            index += 1
            if index >= len(body):
                raise BadPattern(pattern, "unfinished range")
            high = body[index]
            if high == "-":
                raise BadPattern(pattern, "'-' at the end of a range")
            index += 1
            if high == "\\":
                if index >= len(body):
                    raise BadPattern(pattern, "trailing '\\' in a character class")
                high = body[index]
                index += 1
        ranges.append((low, high))
    # a class of only '^' negates nothing and so accepts any character (as doublestar does)
    return _Class(tuple(ranges), negated)


def _class_end(text: str, start: int) -> int:
    """Index of the ``]`` closing a class whose body starts at ``start`` (escapes respected)."""
    index = start
    while index < len(text):
        if text[index] == "]" and not (index > 0 and text[index - 1] == "\\"):
            return index
        index += 1
    return -1


def _tokens(component: str, pattern: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    index = 0
    while index < len(component):
        char = component[index]
        if char == "\\":
            if index + 1 >= len(component):
                raise BadPattern(pattern, "trailing '\\'")
            tokens.append(component[index + 1])
            index += 2
        elif char == "*":
            if not tokens or tokens[-1] is not _STAR:
                tokens.append(_STAR)
            index += 1
        elif char == "?":
            tokens.append(_ONE)
            index += 1
        elif char == "[":
            end = _class_end(component, index + 1)
            if end < 0:
                raise BadPattern(pattern, "unclosed '['")
            tokens.append(_parse_class(component[index + 1 : end], pattern))
            index = end + 1
        else:
            tokens.append(char)
            index += 1
    return tuple(tokens)


def _match_tokens(tokens: tuple[_Token, ...], text: str) -> bool:
    """Match one component; ``*`` backtracks (the last star seen is retried, as in path.Match)."""
    t = s = 0
    star_t = star_s = -1
    while s < len(text):
        if t < len(tokens):
            token = tokens[t]
            if token is _STAR:
                star_t, star_s = t, s
                t += 1
                continue
            if token is _ONE or (isinstance(token, _Class) and token.accepts(text[s])) or token == text[s]:
                t += 1
                s += 1
                continue
        if star_t < 0:
            return False
        star_s += 1
        t, s = star_t + 1, star_s
    return all(token is _STAR for token in tokens[t:])


# --- alternatives ---------------------------------------------------------------------------------


def _brace_end(text: str, start: int, pattern: str) -> tuple[list[str], int]:
    """Split ``{a,b}`` whose body starts at ``start``: the options and the index after ``}``."""
    depth, index, begin = 1, start, start
    options: list[str] = []
    while True:
        if index >= len(text):
            raise BadPattern(pattern, "unclosed '{'")
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                options.append(text[begin:index])
                return options, index + 1
        elif char == "," and depth == 1:
            options.append(text[begin:index])
            begin = index + 1
        index += 1


#: Marks text that came from an alternative: doublestar never treats a component holding such
#: text as ``**`` (it looks for ``**`` in the unexpanded pattern only).
_BRACED = "\x00"


def _expand(text: str, pattern: str) -> list[str]:
    """Every pattern the alternatives of ``text`` stand for (escapes kept, options marked)."""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            end = _class_end(text, index + 1)
            if end > 0:
                index = end + 1
                continue
        if char == "{":
            options, after = _brace_end(text, index + 1, pattern)
            head, tail = text[:index], text[after:]
            results: list[str] = []
            for option in options:
                for expanded in _expand(head + _BRACED + option + _BRACED + tail, pattern):
                    if expanded not in results:
                        results.append(expanded)
            return results
        index += 1
    return [text]


# --- whole patterns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Alternative:
    components: tuple[tuple[_Token, ...] | None, ...]  #: None: a ``**`` component


@dataclass(frozen=True)
class Pattern:
    """A compiled pattern: the alternatives its braces stand for, each as components."""

    text: str
    alternatives: tuple[_Alternative, ...]

    def match(self, name: str) -> bool:
        parts = name.split("/")
        return any(_match_components(alt.components, 0, parts, 0) for alt in self.alternatives)


def _split_components(text: str) -> list[str]:
    """Split on unescaped ``/``."""
    parts, begin, index = [], 0, 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == "/":
            parts.append(text[begin:index])
            begin = index + 1
        index += 1
    parts.append(text[begin:])
    return parts


def _match_components(components: tuple[tuple[_Token, ...] | None, ...], c: int, parts: list[str], p: int) -> bool:
    if c == len(components):
        return p == len(parts)
    component = components[c]
    if component is None:  # '**': zero or more whole components (one or more when it ends the pattern)
        if c == len(components) - 1:
            return p < len(parts) or c == 0
        return any(_match_components(components, c + 1, parts, q) for q in range(p, len(parts) + 1))
    if p == len(parts):
        return False
    return _match_tokens(component, parts[p]) and _match_components(components, c + 1, parts, p + 1)


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Pattern:
    """Compile a doublestar pattern; raises BadPattern when it is malformed."""
    alternatives: list[_Alternative] = []
    for expanded in _expand(pattern, pattern):
        components: list[tuple[_Token, ...] | None] = []
        for text in _split_components(expanded):
            braced = _BRACED in text
            text = text.replace(_BRACED, "")
            if text == "**" and not braced:
                if not components or components[-1] is not None:
                    components.append(None)
                continue
            components.append(_tokens(text, pattern))
        alternatives.append(_Alternative(tuple(components)))
    return Pattern(pattern, tuple(alternatives))


def match(pattern: str, name: str) -> bool:
    """doublestar.PathMatch(pattern, name) for ``/``-separated names."""
    return compile_pattern(pattern).match(name)


# --- paths as werf joins them ------------------------------------------------------------------------


def go_clean(path: str) -> str:
    """Go's path.Clean: the shortest equivalent path (``//a/./b/../c/`` → ``/a/c``)."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def literal_prefix(components: Iterable[str]) -> list[str]:
    """The leading components without pattern characters (where werf starts its walk)."""
    prefix: list[str] = []
    for component in components:
        if any(char in SPECIAL for char in component):
            break
        prefix.append(component)
    return prefix
