"""Word casing as Sprig does it (huandu/xstrings): snakecase, kebabcase, camelcase; strings.Title."""

from __future__ import annotations

import unicodedata

_INVALID, _NUMBER, _UPPER, _ALPHA, _CONNECTOR, _PUNCT, _OTHER = range(7)


def is_space(char: str) -> bool:
    """Go's unicode.IsSpace."""
    return char in "\t\n\v\f\r \x85\xa0" or (ord(char) > 0xFF and unicodedata.category(char) == "Zs") or char in "\u2028\u2029"


def _is_connector(char: str) -> bool:
    return char in "-_" or is_space(char)


def _is_punct(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def _is_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L")


def _is_upper(char: str) -> bool:
    return unicodedata.category(char) == "Lu"


def _is_number(char: str) -> bool:
    return unicodedata.category(char).startswith("N")


def _is_alphabet(char: str) -> bool:
    if not _is_letter(char):
        return False
    code = ord(char)
    return not (0x4E00 <= code <= 0x9FCC or 0x3400 <= code <= 0x4D85 or 0x20000 <= code <= 0x2A6D6)


def _next_word(text: str) -> tuple[int, str, str]:
    if not text:
        return _INVALID, "", ""
    first = text[0]
    end = 1
    length = len(text)

    def extend(test: object) -> int:
        position = end
        while position < length and test(text[position]):  # type: ignore[operator]
            position += 1
        return position

    if _is_connector(first):
        kind, end = _CONNECTOR, extend(_is_connector)
    elif _is_punct(first):
        kind, end = _PUNCT, extend(_is_punct)
    elif _is_upper(first):
        kind = _UPPER
        if end < length:
            second = text[end]
            if _is_upper(second):
                upper_end = extend(_is_upper)
                if upper_end < length and _is_alphabet(text[upper_end]):
                    upper_end -= 1  # "HTTPStatus" → "HTTP" + "Status"
                end = upper_end
            elif _is_alphabet(second):
                end = extend(lambda c: _is_alphabet(c) and not _is_upper(c))
    elif _is_alphabet(first):
        kind, end = _ALPHA, extend(lambda c: _is_alphabet(c) and not _is_upper(c))
    elif _is_number(first):
        kind, end = _NUMBER, extend(_is_number)
    else:
        kind = _OTHER
        end = extend(lambda c: not (_is_connector(c) or _is_alphabet(c) or _is_number(c) or _is_punct(c)))
    return kind, text[:end], text[end:]


def _lower(out: list[str], kind: int, word: str, connector: str) -> None:
    if kind not in (_UPPER, _CONNECTOR):
        out.append(word)
        return
    for char in word:
        out.append(connector if _is_connector(char) else (char.lower() if _is_upper(char) else char))


def to_lower_words(text: str, connector: str) -> str:
    """xstrings' camelCaseToLowerCase: ``snakecase`` (connector ``_``) and ``kebabcase`` (``-``)."""
    if not text:
        return ""
    out: list[str] = []
    kind, word, rest = _next_word(text)
    while rest:
        if kind != _CONNECTOR:
            _lower(out, kind, word, connector)
        prev, last = kind, word
        kind, word, rest = _next_word(rest)
        if prev == _NUMBER:
            while kind in (_ALPHA, _NUMBER):
                _lower(out, kind, word, connector)
                kind, word, rest = _next_word(rest)
            if kind not in (_INVALID, _PUNCT, _CONNECTOR):
                out.append(connector)
        elif prev == _CONNECTOR:
            _lower(out, prev, last, connector)
        elif prev == _PUNCT:
            pass
        else:
            if kind != _NUMBER:
                if kind not in (_CONNECTOR, _PUNCT):
                    out.append(connector)
                continue
            if not rest:
                continue
            last = word
            kind, word, rest = _next_word(rest)
            if kind != _ALPHA:
                _lower(out, _NUMBER, last, connector)
                if kind not in (_CONNECTOR, _PUNCT):
                    out.append(connector)
                continue
            out.append(connector)
            _lower(out, _NUMBER, last, connector)
            while kind in (_ALPHA, _NUMBER):
                _lower(out, kind, word, connector)
                kind, word, rest = _next_word(rest)
            if kind not in (_INVALID, _CONNECTOR, _PUNCT):
                out.append(connector)
    _lower(out, kind, word, connector)
    return "".join(out)


def _upper1(char: str) -> str:
    upper = char.upper()
    return upper if len(upper) == 1 else char


def _lower1(char: str) -> str:
    lower = char.lower()
    return lower if len(lower) == 1 else char


def to_camel(text: str) -> str:
    """xstrings.ToCamelCase (Sprig's ``camelcase``)."""
    if not text:
        return ""
    out: list[str] = []
    index = 0
    current = ""
    while index < len(text):
        current = text[index]
        index += 1
        if not _is_connector(current):
            current = _upper1(current)
            break
        out.append(current)
    if index >= len(text):
        out.append(current)
        return "".join(out) if not _is_connector(current) else "".join(out[:-1]) + current
    while index < len(text):
        previous = current
        current = text[index]
        index += 1
        if _is_connector(current) and _is_connector(previous):
            out.append(previous)
            continue
        if _is_connector(previous):
            current = _upper1(current)
        else:
            current = _lower1(current)
            out.append(previous)
    out.append(current)
    return "".join(out)


def _title_separator(char: str) -> bool:
    if ord(char) <= 0x7F:
        return not (char.isascii() and (char.isalnum() or char == "_"))
    if _is_letter(char) or unicodedata.category(char) == "Nd":
        return False
    return is_space(char)


def title(text: str) -> str:
    """Go's strings.Title."""
    out = []
    previous = " "
    for char in text:
        out.append(char.title() if _title_separator(previous) and len(char.title()) == 1 else char)
        previous = char
    return "".join(out)


def untitle(text: str) -> str:
    out = []
    previous = " "
    for char in text:
        out.append(_lower1(char) if _title_separator(previous) else char)
        previous = char
    return "".join(out)
