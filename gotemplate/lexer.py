"""Lexer for Go's text/template syntax: text, ``{{ }}`` actions, trim markers, comments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from gotemplate.source import Source, SyntaxProblem

SPACE_CHARS = " \t\r\n"
KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with"})


class Kind(Enum):
    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    SPACE = "space"
    FIELD = "field"
    VARIABLE = "variable"
    IDENTIFIER = "identifier"
    KEYWORD = "keyword"
    STRING = "string"
    RAW_STRING = "raw string"
    CHAR_CONSTANT = "character constant"
    NUMBER = "number"
    BOOL = "bool"
    DOT = "."
    NIL = "nil"
    DECLARE = ":="
    ASSIGN = "="
    PIPE = "|"
    LEFT_PAREN = "("
    RIGHT_PAREN = ")"
    CHAR = "char"
    EOF = "EOF"


@dataclass(frozen=True)
class Token:
    kind: Kind
    value: str
    pos: int

    def describe(self) -> str:
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.KEYWORD:
            return f"<{self.value}>"
        if self.kind is Kind.SPACE:
            return "space"
        return repr(self.value) if len(self.value) <= 10 else repr(self.value[:10] + "...")


_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
    r"|0[bB][01_]*|0[oO][0-7_]*"
    r"|[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]+)?)i?"
)


def _is_alnum(char: str) -> bool:
    return char == "_" or char.isalnum()


def tokenize(source: Source) -> list[Token]:
    """Split a template into tokens; raises SyntaxProblem with the offending position."""
    text = source.text
    tokens: list[Token] = []
    pos = 0
    length = len(text)
    while pos < length:
        start = text.find("{{", pos)
        if start < 0:
            tokens.append(Token(Kind.TEXT, text[pos:], pos))
            break
        after = start + 2
        trim_left = text.startswith("-", after) and after + 1 < length and text[after + 1] in SPACE_CHARS
        chunk = text[pos:start]
        if trim_left:
            chunk = chunk.rstrip(SPACE_CHARS)
        if chunk:
            tokens.append(Token(Kind.TEXT, chunk, pos))
        inner = after + 2 if trim_left else after
        # a comment: {{/* ... */}}, with optional trim markers
        probe = inner
        if text.startswith("/*", probe):
            close = text.find("*/", probe + 2)
            if close < 0:
                raise SyntaxProblem("unclosed comment", start)
            end = close + 2
            trim_right = False
            if (
                text.startswith(" -}}", end)
                or text.startswith("\t-}}", end)
                or text.startswith("\n-}}", end)
                or text.startswith("\r-}}", end)
            ):
                trim_right, end = True, end + 4
            elif text.startswith("}}", end):
                end += 2
            else:
                raise SyntaxProblem("comment ends before closing delimiter", start)
            pos = _skip_space(text, end) if trim_right else end
            continue
        tokens.append(Token(Kind.LEFT, "{{", start))
        pos = _lex_action(text, inner, tokens, start)
    tokens.append(Token(Kind.EOF, "", length))
    return tokens


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in SPACE_CHARS:
        pos += 1
    return pos


def _lex_action(text: str, pos: int, tokens: list[Token], action_start: int) -> int:
    """Lex inside ``{{ }}`` from ``pos``; return the position after the closing delimiter."""
    depth = 0
    length = len(text)
    while True:
        # closing delimiter, possibly with a trim marker " -}}"
        if pos < length and text[pos] in SPACE_CHARS and text.startswith("-}}", pos + 1):
            if depth:
                raise SyntaxProblem("unclosed left paren", pos)
            tokens.append(Token(Kind.RIGHT, "}}", pos + 2))
            return _skip_space(text, pos + 4)
        if text.startswith("}}", pos):
            if depth:
                raise SyntaxProblem("unclosed left paren", pos)
            tokens.append(Token(Kind.RIGHT, "}}", pos))
            return pos + 2
        if pos >= length:
            raise SyntaxProblem("unclosed action", action_start)
        char = text[pos]
        if char in SPACE_CHARS:
            end = pos
            while end < length and text[end] in SPACE_CHARS:
                end += 1
            if text.startswith("-}}", end):
                end -= 1  # the last space belongs to the " -}}" trim marker
                if end == pos:
                    continue
            tokens.append(Token(Kind.SPACE, text[pos:end], pos))
            pos = end
        elif char == "=":
            tokens.append(Token(Kind.ASSIGN, "=", pos))
            pos += 1
        elif char == ":":
            if not text.startswith(":=", pos):
                raise SyntaxProblem("expected :=", pos)
            tokens.append(Token(Kind.DECLARE, ":=", pos))
            pos += 2
        elif char == "|":
            tokens.append(Token(Kind.PIPE, "|", pos))
            pos += 1
        elif char == '"':
            end = pos + 1
            while True:
                if end >= length or text[end] == "\n":
                    raise SyntaxProblem("unterminated quoted string", pos)
                if text[end] == "\\":
                    end += 2
                    continue
                if text[end] == '"':
                    break
                end += 1
            tokens.append(Token(Kind.STRING, text[pos : end + 1], pos))
            pos = end + 1
        elif char == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise SyntaxProblem("unterminated raw quoted string", pos)
            tokens.append(Token(Kind.RAW_STRING, text[pos : end + 1], pos))
            pos = end + 1
        elif char == "'":
            end = pos + 1
            while True:
                if end >= length or text[end] == "\n":
                    raise SyntaxProblem("unterminated character constant", pos)
                if text[end] == "\\":
                    end += 2
                    continue
                if text[end] == "'":
                    break
                end += 1
            tokens.append(Token(Kind.CHAR_CONSTANT, text[pos : end + 1], pos))
            pos = end + 1
        elif char == "$":
            end = pos + 1
            while end < length and _is_alnum(text[end]):
                end += 1
            tokens.append(Token(Kind.VARIABLE, text[pos:end], pos))
            pos = _check_terminator(text, end)
        elif char == "." and not (pos + 1 < length and text[pos + 1].isdigit()):
            end = pos + 1
            while end < length and _is_alnum(text[end]):
                end += 1
            if end == pos + 1:
                tokens.append(Token(Kind.DOT, ".", pos))
                pos = end
            else:
                tokens.append(Token(Kind.FIELD, text[pos:end], pos))
                pos = _check_terminator(text, end)
        elif char in "+-." or char.isdigit():
            match = _NUMBER.match(text, pos)
            end = match.end() if match else pos
            if end == pos or (end < length and _is_alnum(text[end])):
                bad_end = end
                while bad_end < length and _is_alnum(text[bad_end]):
                    bad_end += 1
                raise SyntaxProblem(f"bad number syntax: {text[pos : max(bad_end, pos + 1)]!r}", pos)
            tokens.append(Token(Kind.NUMBER, text[pos:end], pos))
            pos = end
        elif _is_alnum(char):
            end = pos
            while end < length and _is_alnum(text[end]):
                end += 1
            word = text[pos:end]
            if word in ("true", "false"):
                kind = Kind.BOOL
            elif word == "nil":
                kind = Kind.NIL
            elif word in KEYWORDS:
                kind = Kind.KEYWORD
            else:
                kind = Kind.IDENTIFIER
            tokens.append(Token(kind, word, pos))
            pos = _check_terminator(text, end)
        elif char == "(":
            depth += 1
            tokens.append(Token(Kind.LEFT_PAREN, "(", pos))
            pos += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SyntaxProblem("unexpected right paren", pos)
            tokens.append(Token(Kind.RIGHT_PAREN, ")", pos))
            pos += 1
        elif ord(char) < 128 and char.isprintable():
            tokens.append(Token(Kind.CHAR, char, pos))
            pos += 1
        else:
            raise SyntaxProblem(f"unrecognized character in action: {char!r}", pos)


def _check_terminator(text: str, pos: int) -> int:
    if pos >= len(text):
        return pos
    char = text[pos]
    if char in SPACE_CHARS or char in ".,|:()" or text.startswith("}}", pos):
        return pos
    raise SyntaxProblem(f"bad character {char!r}", pos)
