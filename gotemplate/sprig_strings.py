"""Sprig's string functions (Sprig 3, as werf's ``sprig.TxtFuncMap()`` provides them)."""

from __future__ import annotations

from typing import Any

from gotemplate import casing
from gotemplate.convert import strslice, strval
from gotemplate.errors import ExecError
from gotemplate.funcs import Func, FuncTable, table
from gotemplate.gofmt import format_value, go_quote
from gotemplate.values import ANY, INT, STRING, StrList, StrMap

_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def s(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _go_slice(text: str, start: int, end: int | None = None) -> str:
    data = b(text)
    stop = len(data) if end is None else end
    if start < 0 or stop > len(data) or start > stop:
        raise ExecError(f"runtime error: slice bounds out of range [{start}:{stop}] with length {len(data)}")
    return s(data[start:stop])


def _substr(start: int, end: int, text: str) -> str:
    if start < 0:
        return _go_slice(text, 0, end)
    if end < 0 or end > len(b(text)):
        return _go_slice(text, start)
    return _go_slice(text, start, end)


def _trunc(count: int, text: str) -> str:
    data = b(text)
    if count < 0 and len(data) + count > 0:
        return s(data[len(data) + count :])
    if count >= 0 and len(data) > count:
        return s(data[:count])
    return text


def _repeat(count: int, text: str) -> str:
    if count < 0:
        raise ExecError("strings: negative Repeat count")
    return text * count


def _go_split(text: str, sep: str, limit: int = -1) -> list[str]:
    if limit == 0:
        return []
    if sep == "":
        chars = list(text)
        if 0 < limit < len(chars):
            chars = chars[: limit - 1] + ["".join(chars[limit - 1 :])]
        return chars
    return text.split(sep) if limit < 0 else text.split(sep, limit - 1)


def _numbered(parts: list[str]) -> StrMap:
    return StrMap((f"_{i}", part) for i, part in enumerate(parts))


def _indent(spaces: int, text: str) -> str:
    pad = " " * max(spaces, 0)
    return pad + text.replace("\n", "\n" + pad)


def _wrap_custom(text: str, length: int, newline: str, long_words: bool) -> str:
    data = b(text)
    if not data:
        return ""
    sep = b(newline or "\n")
    length = max(length, 1)
    offset = 0
    out = bytearray()
    while len(data) - offset > length:
        if data[offset : offset + 1] == b" ":
            offset += 1
            continue
        space = data[offset : length + offset + 1].rfind(b" ") + offset
        if space >= offset:
            out += data[offset:space] + sep
            offset = space + 1
        elif long_words:
            out += data[offset : offset + length] + sep
            offset += length
        else:
            index = data[length + offset :].find(b" ")
            if index == -1:
                out += data[offset:]
                offset = len(data)
            else:
                space = index + length + offset
                out += data[offset:space] + sep
                offset = space + 1
    out += data[offset:]
    return s(bytes(out))


def _abbreviate_full(text: str, offset: int, width: int) -> str:
    data = b(text)
    if not data or width < 4:
        return ""
    if len(data) <= width:
        return text
    offset = min(offset, len(data))
    if len(data) - offset < width - 3:
        offset = len(data) - (width - 3)
    if offset <= 4:
        return s(data[: width - 3]) + "..."
    if width < 7:
        return ""
    if offset + width - 3 < len(data):
        return "..." + _abbreviate_full(s(data[offset:]), 0, width - 3)
    return "..." + s(data[len(data) - (width - 3) :])


def _nospace(text: str) -> str:
    data = b(text)
    kept = [chr(byte) for byte in data if not casing.is_space(chr(byte))]
    return text if len(kept) == len(data) else "".join(kept)


def _initials(text: str) -> str:
    out = []
    gap = True
    for byte in b(text):
        char = chr(byte)
        if casing.is_space(char):
            gap = True
        elif gap:
            out.append(char)
            gap = False
    return "".join(out)


def _upper(text: str) -> str:
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


def _lower(text: str) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _swapcase(text: str) -> str:
    return "".join(_lower(c) if c.isupper() else _upper(c) if c.islower() else c for c in text)


def _sort_alpha(value: Any) -> StrList:
    if isinstance(value, list):
        return StrList(sorted(strslice(value), key=b))
    return StrList([strval(value)])


def _cat(*values: Any) -> str:
    return " ".join(format_value(v) for v in values if v is not None)


def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


STRINGS: FuncTable = table(
    Func("trim", (STRING,), lambda t: t.strip(_GO_SPACE)),
    Func("trimAll", (STRING, STRING), lambda cut, t: t.strip(cut) if cut else t),
    Func("trimall", (STRING, STRING), lambda cut, t: t.strip(cut) if cut else t),
    Func("trimPrefix", (STRING, STRING), lambda p, t: t[len(p) :] if t.startswith(p) else t),
    Func("trimSuffix", (STRING, STRING), lambda p, t: t[: len(t) - len(p)] if p and t.endswith(p) else t),
    Func("upper", (STRING,), _upper),
    Func("lower", (STRING,), _lower),
    Func("title", (STRING,), casing.title),
    Func("untitle", (STRING,), casing.untitle),
    Func("swapcase", (STRING,), _swapcase),
    Func("replace", (STRING, STRING, STRING), lambda old, new, t: t.replace(old, new) if old else _go_replace(t, new)),
    Func("repeat", (INT, STRING), _repeat),
    Func("substr", (INT, INT, STRING), _substr),
    Func("trunc", (INT, STRING), _trunc),
    Func("contains", (STRING, STRING), lambda sub, t: sub in t),
    Func("hasPrefix", (STRING, STRING), lambda p, t: t.startswith(p)),
    Func("hasSuffix", (STRING, STRING), lambda p, t: t.endswith(p)),
    Func("quote", (), lambda *v: " ".join(go_quote(strval(x)) for x in v if x is not None), variadic=ANY),
    Func("squote", (), lambda *v: " ".join(f"'{format_value(x)}'" for x in v if x is not None), variadic=ANY),
    Func("cat", (), _cat, variadic=ANY),
    Func("indent", (INT, STRING), _indent),
    Func("nindent", (INT, STRING), lambda n, t: "\n" + _indent(n, t)),
    Func("wrap", (INT, STRING), lambda n, t: _wrap_custom(t, n, "", False)),
    Func("wrapWith", (INT, STRING, STRING), lambda n, sep, t: _wrap_custom(t, n, sep, True)),
    Func("abbrev", (INT, STRING), lambda w, t: t if w < 4 else _abbreviate_full(t, 0, w)),
    Func(
        "abbrevboth",
        (INT, INT, STRING),
        lambda left, right, t: t if right < 4 or (left > 0 and right < 7) else _abbreviate_full(t, left, right),
    ),
    Func("nospace", (STRING,), _nospace),
    Func("initials", (STRING,), _initials),
    Func("snakecase", (STRING,), lambda t: casing.to_lower_words(t, "_")),
    Func("kebabcase", (STRING,), lambda t: casing.to_lower_words(t, "-")),
    Func("camelcase", (STRING,), casing.to_camel),
    Func("plural", (STRING, STRING, INT), _plural),
    Func("split", (STRING, STRING), lambda sep, t: _numbered(_go_split(t, sep))),
    Func("splitn", (STRING, INT, STRING), lambda sep, n, t: _numbered(_go_split(t, sep, n))),
    Func("splitList", (STRING, STRING), lambda sep, t: StrList(_go_split(t, sep))),
    Func("join", (STRING, ANY), lambda sep, v: sep.join(strslice(v))),
    Func("sortAlpha", (ANY,), _sort_alpha),
    Func("toString", (ANY,), strval),
    Func("toStrings", (ANY,), strslice),
    Func("toDecimal", (ANY,), lambda v: _to_decimal(v)),
)


def _go_replace(text: str, new: str) -> str:
    # strings.Replace with an empty old string inserts ``new`` around every character
    return new + new.join(text) + new if text else new


def _to_decimal(value: Any) -> Any:
    from gotemplate.values import Int64

    try:
        return Int64(int(strval(value), 8))
    except ValueError:
        return Int64(0)
