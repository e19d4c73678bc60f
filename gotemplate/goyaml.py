"""YAML read as Go's gopkg.in/yaml.v2 reads it (what werf uses for ``fromYaml`` and werf.yaml).

PyYAML and yaml.v2 both descend from libyaml but differ where real werf.yaml files notice:

* **tabs**: yaml.v2 takes a tab as a separator wherever it is not indentation (``a:<TAB>b``,
  ``[a,<TAB>b]``, ``value<TAB># comment``) and inside a plain scalar (``make &&<TAB>install``);
  PyYAML refuses every tab outside quotes and block scalars;
* **implicit types** (yaml.v2's ``resolve``): ``y``/``n``/``on``/``off`` are booleans, ``1e3`` is a
  float, ``0o17`` an int, ``1:30`` and dates stay strings (decoded into ``interface{}``, yaml.v2
  keeps a timestamp as its text);
* **one document**: ``yaml.Unmarshal`` reads the first document of a stream and ignores the rest.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.tokens import ScalarToken

from gotemplate.convert import parse_go_int

BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"

_WORDS: dict[str, tuple[str, Any]] = {}
for _tag, _value, _words in (
    (BOOL_TAG, True, "y Y yes Yes YES true True TRUE on On ON"),
    (BOOL_TAG, False, "n N no No NO false False FALSE off Off OFF"),
    (NULL_TAG, None, "~ null Null NULL"),
    (FLOAT_TAG, float("nan"), ".nan .NaN .NAN"),
    (FLOAT_TAG, float("inf"), ".inf .Inf .INF +.inf +.Inf +.INF"),
    (FLOAT_TAG, float("-inf"), "-.inf -.Inf -.INF"),
    (MERGE_TAG, "<<", "<<"),
):
    for _word in _words.split():
        _WORDS[_word] = (_tag, _value)
_WORDS[""] = (NULL_TAG, None)

_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_DECIMAL_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+\.?[0-9]*)([eE][-+]?[0-9]+)?")


def resolve_plain(text: str) -> tuple[str, Any]:
    """The tag and value yaml.v2 gives a plain scalar decoded into ``interface{}``."""
    if text in _WORDS:
        return _WORDS[text]
    first = text[0]
    if first == ".":
        if _GO_DECIMAL_FLOAT.fullmatch(text):
            return FLOAT_TAG, float(text)
    elif first in "+-0123456789":
        plain = text.replace("_", "")
        number = parse_go_int(plain)
        if number is not None:
            return INT_TAG, number
        unsigned = parse_go_int(plain[1:] if plain.startswith("+") else plain) if not plain.startswith("-") else None
        if unsigned is None and re.fullmatch(r"\+?[0-9]+", plain) and int(plain) < 1 << 64:
            return INT_TAG, int(plain)
        if _YAML_FLOAT.fullmatch(plain):
            return FLOAT_TAG, float(plain)
        if plain.startswith("-0b") and re.fullmatch(r"-0b[01]+", plain):
            return INT_TAG, -int(plain[3:], 2)
    return STR_TAG, text


_BLANK = " \t"
_BREAK = "\r\n\x85\u2028\u2029"
_BLANKZ = "\0" + _BLANK + _BREAK


class GoYamlLoader(yaml.SafeLoader):
    """A SafeLoader with yaml.v2's tab rules, implicit types and single-document reading."""

    # --- scanner: yaml.v2's whitespace rules ---------------------------------------------------
    def scan_to_next_token(self) -> None:
        while True:
            if self.column == 0 and self.peek() == "\ufeff":
                self.forward()
            # a tab separates tokens in the flow context, and in the block context where no simple
            # key may start (after a key's ':', inside a line) — never as indentation
            while self.peek() == " " or (self.peek() == "\t" and (self.flow_level or not self.allow_simple_key)):
                self.forward()
            if self.peek() == "#":
                while self.peek() not in "\0" + _BREAK:
                    self.forward()
            if self.scan_line_break():  # type: ignore[no-untyped-call]
                if not self.flow_level:
                    self.allow_simple_key = True
            else:
                return

    def scan_plain(self) -> ScalarToken:
        chunks: list[str] = []
        start_mark = self.get_mark()
        end_mark = start_mark
        indent = self.indent + 1
        spaces: list[str] = []
        while True:
            length = 0
            if self.peek() == "#":
                break
            while True:
                ch = self.peek(length)
                if ch in _BLANKZ or (ch == ":" and self.peek(length + 1) in _BLANKZ) or (self.flow_level and ch in ",?[]{}"):
                    break
                length += 1
            if length == 0:
                break
            self.allow_simple_key = False
            chunks.extend(spaces)
            chunks.append(self.prefix(length))
            self.forward(length)
            end_mark = self.get_mark()
            spaces = self._plain_spaces(indent, start_mark)
            if not spaces or self.peek() == "#" or (not self.flow_level and self.column < indent):
                break
        return ScalarToken("".join(chunks), True, start_mark, end_mark)

    def _plain_spaces(self, indent: int, start_mark: Any) -> list[str]:
        """Blanks (spaces and tabs) and line breaks after a plain scalar's word, folded as yaml.v2
        folds them; a tab in the indentation of a continuation line is an error, as in yaml.v2."""
        length = 0
        while self.peek(length) in _BLANK:
            length += 1
        whitespaces = self.prefix(length)
        self.forward(length)
        if self.peek() not in _BREAK:
            return [whitespaces] if whitespaces else []
        line_break = self.scan_line_break()  # type: ignore[no-untyped-call]
        self.allow_simple_key = True
        if self._document_marker():
            return []
        breaks: list[str] = []
        while self.peek() in _BLANK + _BREAK:
            if self.peek() in _BLANK:
                if self.peek() == "\t" and self.column < indent:
                    raise yaml.scanner.ScannerError(
                        "while scanning a plain scalar",
                        start_mark,
                        "found a tab character that violates indentation",
                        self.get_mark(),
                    )
                self.forward()
            else:
                breaks.append(self.scan_line_break())  # type: ignore[no-untyped-call]
                if self._document_marker():
                    return []
        chunks: list[str] = []
        if line_break != "\n":
            chunks.append(line_break)
        elif not breaks:
            chunks.append(" ")
        chunks.extend(breaks)
        return chunks

    def _document_marker(self) -> bool:
        return self.prefix(3) in ("---", "...") and self.peek(3) in _BLANKZ

    # --- resolver and constructors: yaml.v2's implicit types --------------------------------------
    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return resolve_plain(value)[0]
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    # --- one document, as yaml.Unmarshal reads ----------------------------------------------------
    def get_single_node(self) -> Any:
        self.get_event()  # type: ignore[no-untyped-call]  # the stream's start
        document = None
        if not self.check_event(yaml.StreamEndEvent):
            document = self.compose_document()
        return document


def _construct_plain(loader: GoYamlLoader, node: yaml.ScalarNode) -> Any:
    tag, value = resolve_plain(str(node.value))
    if tag == node.tag:
        return value
    if node.tag == FLOAT_TAG and tag == INT_TAG:
        return float(value)
    raise yaml.constructor.ConstructorError(None, None, f"cannot decode {tag} `{node.value}` as a {node.tag}", node.start_mark)


for _tag in (BOOL_TAG, INT_TAG, FLOAT_TAG, NULL_TAG):
    GoYamlLoader.add_constructor(_tag, _construct_plain)


# --- writing: yaml.Marshal, what werf 2's toYaml prints ----------------------------------------------


class _GoEmitter(yaml.emitter.Emitter):
    """libyaml's emitter as yaml.v2 configures it (unicode on, width 80, indent 2), with yaml.v2's
    printable characters: a tab, NEL and characters beyond U+FFFF force double quotes."""

    def analyze_scalar(self, scalar: str) -> Any:
        analysis = super().analyze_scalar(scalar)
        if any(ch > "\uffff" or ch == "\x85" for ch in scalar):
            analysis.allow_flow_plain = analysis.allow_block_plain = False
            analysis.allow_single_quoted = analysis.allow_block = False
        return analysis

    def check_simple_key(self) -> bool:
        """libyaml's rule: a one-line scalar of at most 128 bytes (an empty one too), or an empty
        collection, is written as a simple key."""
        if isinstance(self.event, yaml.ScalarEvent):
            if self.analysis is None:
                self.analysis = self.analyze_scalar(self.event.value)
            return not self.analysis.multiline and len(self.event.value.encode("utf-8", "surrogatepass")) <= 128
        return bool(self.check_empty_sequence() or self.check_empty_mapping())

    def check_empty_document(self) -> bool:
        return False  # yaml.v2 writes an empty root scalar ("") without "---"

    def expect_document_start(self, first: bool = False) -> None:
        if isinstance(self.event, yaml.StreamEndEvent):
            self.open_ended = False  # yaml.v2 ends a stream without "..."
        super().expect_document_start(first)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        """libyaml's double-quoted writer: escapes, and a line broken at a space once past the width."""
        self.write_indicator('"', True)
        spaces = False
        for index, ch in enumerate(text):
            if ch in '"\\' or ch in "\n\r\x85\u2028\u2029\ufeff" or not _printable(ch):
                self.stream.write(_escape(ch))
                self.column += len(_escape(ch))
                spaces = False
            elif ch == " ":
                if split and not spaces and self.column > self.best_width and 0 < index < len(text) - 1:
                    self.write_indent()
                    if text[index + 1] == " ":
                        self.stream.write("\\")
                        self.column += 1
                else:
                    self.stream.write(ch)
                    self.column += 1
                spaces = True
            else:
                self.stream.write(ch)
                self.column += 1
                spaces = False
        self.write_indicator('"', False)
        self.whitespace = self.indention = False


def _printable(ch: str) -> bool:
    return ch == "\n" or " " <= ch <= "~" or "\xa0" <= ch <= "\ud7ff" or ("\ue000" <= ch <= "\ufffd" and ch != "\ufeff")


_ESCAPES = {
    "\0": "0",
    "\x07": "a",
    "\x08": "b",
    "\t": "t",
    "\n": "n",
    "\x0b": "v",
    "\x0c": "f",
    "\r": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return "\\" + _ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_CLOCK = r"[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]{1,9})?"
_DATE_TIME = re.compile(r"([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})(?:[Tt]" + _CLOCK + r"(?:Z|[+-][0-9]{2}:[0-9]{2})| " + _CLOCK + ")")


def _is_timestamp(text: str) -> bool:
    """Whether yaml.v2 reads a plain ``text`` as a timestamp (Go's time.Parse of its four layouts)."""
    whole = _DATE_TIME.fullmatch(text)
    date = _DATE.fullmatch(whole.group(1) if whole else text)
    if date is None:
        return False
    year, month, day = (int(part) for part in date.groups())
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    if day > days:
        return False
    if whole:
        clock = re.search(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})", text[len(whole.group(1)) :])
        assert clock is not None
        hour, minute, second = (int(part) for part in clock.groups())
        return hour < 24 and minute < 60 and second < 60
    return True


_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


def _string_style(text: str) -> str | None:
    """yaml.v2's choice for a string: a literal block with line breaks, plain when the text reads
    back as the same string, else double quotes (the emitter may still quote a plain one)."""
    if "\n" in text:
        return "|"
    plain = resolve_plain(text)[0] in (STR_TAG, MERGE_TAG) and not _is_timestamp(text) and not _BASE60.fullmatch(text)
    return None if plain else '"'


def _key_kind(value: Any) -> int:
    """reflect.Kind's order, which yaml.v2 sorts keys of different kinds by."""
    from gotemplate.values import Int64

    if isinstance(value, bool):
        return 1
    if isinstance(value, Int64):
        return 6
    if isinstance(value, int):
        return 2
    if isinstance(value, float):
        return 14
    if isinstance(value, str):
        return 24
    return 20  # nil interface


def _key_less(a: Any, b: Any) -> bool:
    """yaml.v2's key order: numbers (and bools) by value, strings by a natural order in which
    letters come before other characters and digit runs compare as numbers."""
    kind_a, kind_b = _key_kind(a), _key_kind(b)
    numeric = (1, 2, 6, 14)
    if kind_a in numeric and kind_b in numeric:
        if float(a) != float(b):
            return float(a) < float(b)
        if kind_a != kind_b:
            return kind_a < kind_b
        return bool(a < b)
    if kind_a != 24 or kind_b != 24:
        return kind_a < kind_b
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            continue
        letter_a, letter_b = a[i].isalpha(), b[i].isalpha()
        if letter_a and letter_b:
            return bool(a[i] < b[i])
        if letter_a or letter_b:
            return letter_b
        number_a = number_b = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    number_a = number_b = 1
                    break
                j -= 1
        end_a = i
        while end_a < len(a) and a[end_a].isdigit():
            number_a = number_a * 10 + int(a[end_a]) if a[end_a] in "0123456789" else number_a
            end_a += 1
        end_b = i
        while end_b < len(b) and b[end_b].isdigit():
            number_b = number_b * 10 + int(b[end_b]) if b[end_b] in "0123456789" else number_b
            end_b += 1
        if number_a != number_b:
            return number_a < number_b
        if end_a != end_b:
            return end_a < end_b
        return bool(a[i] < b[i])
    return len(a) < len(b)


def _sorted_keys(keys: list[Any]) -> list[Any]:
    from functools import cmp_to_key

    return sorted(keys, key=cmp_to_key(lambda x, y: -1 if _key_less(x, y) else (1 if _key_less(y, x) else 0)))


class Unmarshalable(Exception):
    """A value yaml.Marshal cannot write (toYaml then prints "")."""


def _events(value: Any, out: list[yaml.Event]) -> None:
    from gotemplate.gofmt import format_float
    from gotemplate.values import MISSING, GoObject

    if value is None or value is MISSING:
        out.append(yaml.ScalarEvent(None, None, (True, True), "null", style=None))
    elif isinstance(value, bool):
        out.append(yaml.ScalarEvent(None, None, (True, True), "true" if value else "false", style=None))
    elif isinstance(value, int):
        out.append(yaml.ScalarEvent(None, None, (True, True), str(int(value)), style=None))
    elif isinstance(value, float):
        text = {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(format_float(value), format_float(value))
        out.append(yaml.ScalarEvent(None, None, (True, True), text, style=None))
    elif isinstance(value, str):
        if any("\udc80" <= ch <= "\udcff" for ch in value):
            raise Unmarshalable("invalid UTF-8")
        out.append(yaml.ScalarEvent(None, None, (True, True), value, style=_string_style(value)))
    elif isinstance(value, dict):
        out.append(yaml.MappingStartEvent(None, None, True, flow_style=False))
        for key in _sorted_keys(list(value)):
            _events(key, out)
            _events(value[key], out)
        out.append(yaml.MappingEndEvent())
    elif isinstance(value, (list, tuple)):
        out.append(yaml.SequenceStartEvent(None, None, True, flow_style=False))
        for item in value:
            _events(item, out)
        out.append(yaml.SequenceEndEvent())
    elif isinstance(value, GoObject) and hasattr(value, "marshal_text"):
        _events(str(value.marshal_text()), out)
    elif isinstance(value, GoObject):
        out.append(yaml.MappingStartEvent(None, None, True, flow_style=False))  # no exported fields
        out.append(yaml.MappingEndEvent())
    else:
        raise Unmarshalable(f"cannot marshal {type(value).__name__}")


class _Text:
    """Collects what the emitter writes."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, data: str) -> None:
        self.parts.append(data)


def to_yaml(value: Any) -> str:
    """``yaml.Marshal(value)`` as text, its final newline cut (werf 2's ``toYaml``)."""
    events: list[yaml.Event] = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=False)]
    _events(value, events)
    events += [yaml.DocumentEndEvent(explicit=False), yaml.StreamEndEvent()]
    stream = _Text()
    emitter = _GoEmitter(stream, width=80, indent=2, allow_unicode=True)
    for event in events:
        emitter.emit(event)
    text = "".join(stream.parts)
    return text[:-1] if text.endswith("\n") else text
