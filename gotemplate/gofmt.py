"""Go's fmt as templates see it: ``%v`` of maps, lists and nil, ``Sprintf``, ``strconv.Quote``."""

from __future__ import annotations

import math
import re
from typing import Any

from gotemplate.errors import ExecError
from gotemplate.values import MISSING, GoObject, go_type, is_int

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\\": "\\\\"}


def go_quote(text: str, quote: str = '"') -> str:
    """``strconv.Quote`` (or QuoteRune's escaping with ``quote="'"``)."""
    out = [quote]
    for char in text:
        code = ord(char)
        if char == quote:
            out.append("\\" + char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # an invalid UTF-8 byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(quote)
    return "".join(out)


def format_float(value: float, verb: str = "g", prec: int = -1) -> str:
    """``strconv.FormatFloat`` for the verbs templates use; ``prec=-1`` is the shortest form."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if verb in "fF":
        if prec >= 0:
            return f"{value:.{prec}f}"
        digits, exp = _shortest(value)
        sign = "-" if value < 0 else ""
        if exp < 0:
            return f"{sign}0.{'0' * (-exp - 1)}{digits}" if digits != "0" else "0"
        if len(digits) <= exp + 1:
            return f"{sign}{digits}{'0' * (exp + 1 - len(digits))}"
        return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"
    if verb in "eE":
        if prec < 0:
            digits, exp = _shortest(value)
            mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
            text = f"{'-' if value < 0 or (value == 0 and math.copysign(1, value) < 0) else ''}{mantissa}e{exp:+03d}"
        else:
            text = f"{value:.{prec}e}"
        return text.upper() if verb == "E" else text
    # %g: shortest digits, exponent form when exp < -4 or exp >= precision (6 when shortest)
    if prec < 0:
        digits, exp = _shortest(value)
        eprec = 6
    else:
        if prec == 0:
            prec = 1
        rounded = f"{abs(value):.{prec - 1}e}"
        mantissa, _, exponent = rounded.partition("e")
        digits = mantissa.replace(".", "").rstrip("0") or "0"
        exp = int(exponent)
        eprec = prec
    sign = "-" if value < 0 or (value == 0 and math.copysign(1, value) < 0) else ""
    if exp < -4 or exp >= eprec:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{sign}{mantissa}e{exp:+03d}"
        return text.upper() if verb == "G" else text
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return f"{sign}{digits}{'0' * (exp + 1 - len(digits))}"
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"


def _shortest(value: float) -> tuple[str, int]:
    """Shortest round-tripping decimal digits and the decimal exponent of the first digit."""
    text = repr(abs(value))
    mantissa, _, exponent = text.partition("e")
    exp = int(exponent) if exponent else 0
    whole, _, frac = mantissa.partition(".")
    if frac == "0":
        frac = ""
    digits = (whole + frac).lstrip("0")
    if not digits:
        return "0", 0
    lead = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    exp += lead - 1
    return digits.rstrip("0") or "0", exp


def format_value(value: Any, verb: str = "v", top: bool = True) -> str:
    """``fmt.Sprint``-style ``%v`` (and element-wise ``%s``/``%d``/``%q``) of a Go value."""
    return _fmt(value, _Spec(verb), top)


class _Spec:
    def __init__(self, verb: str, flags: str = "", width: int | None = None, prec: int | None = None):
        self.verb = verb
        self.flags = flags
        self.width = width
        self.prec = prec


def _bad(spec: _Spec, value: Any) -> str:
    if value is None or value is MISSING:
        return f"%!{spec.verb}(<nil>)"
    return f"%!{spec.verb}({go_type(value)}={_fmt(value, _Spec('v'), False)})"


def _pad(text: str, spec: _Spec, numeric: bool = False) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if "-" in spec.flags:
        return text + " " * fill
    if "0" in spec.flags and numeric:
        sign = text[0] if text[:1] in "+- " else ""
        return sign + "0" * fill + text[len(sign) :]
    return " " * fill + text


def _sign(text: str, negative: bool, spec: _Spec) -> str:
    if negative:
        return "-" + text
    if "+" in spec.flags:
        return "+" + text
    if " " in spec.flags:
        return " " + text
    return text


def _fmt(value: Any, spec: _Spec, top: bool) -> str:
    verb = spec.verb
    if value is None or value is MISSING:
        if verb in ("v", "T") or not top:
            return _pad("<nil>", spec)
        return _bad(spec, value)
    if verb == "T":
        return _pad(go_type(value), spec)
    if isinstance(value, bool):
        return _pad("true" if value else "false", spec) if verb in "vt" else _bad(spec, value)
    if is_int(value):
        return _fmt_int(int(value), spec, value)
    if isinstance(value, float):
        return _fmt_float(value, spec)
    if isinstance(value, str):
        return _fmt_str(value, spec)
    if isinstance(value, bytes):
        if verb in "sqxX":
            return _fmt_str(value.decode("utf-8", "surrogateescape"), spec)
        return "[" + " ".join(_fmt(b, spec, False) for b in value) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_fmt(item, spec, False) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=_sort_key)
        return "map[" + " ".join(f"{_fmt(k, spec, False)}:{_fmt(value[k], spec, False)}" for k in keys) + "]"
    if isinstance(value, GoObject):
        return _pad(value.go_format(), spec)
    raise ExecError(f"cannot format a value of type {go_type(value)}")


def _sort_key(key: Any) -> tuple[int, Any]:
    # fmt sorts map keys of mixed interface types by kind first, then by value
    if isinstance(key, bool):
        return (0, key)
    if is_int(key):
        return (1, key)
    if isinstance(key, float):
        return (3, key)
    if isinstance(key, str):
        return (4, key.encode("utf-8", "surrogateescape"))
    return (9, str(key))


def _fmt_int(number: int, spec: _Spec, original: Any) -> str:
    verb = spec.verb
    bases = {"d": 10, "v": 10, "x": 16, "X": 16, "o": 8, "b": 2}
    if verb in bases:
        base = bases[verb]
        digits = _to_base(abs(number), base)
        if verb == "X":
            digits = digits.upper()
        if spec.prec is not None and len(digits) < spec.prec:
            digits = "0" * (spec.prec - len(digits)) + digits
        if "#" in spec.flags and verb in "xX":
            digits = "0" + verb + digits
        return _pad(_sign(digits, number < 0, spec), spec, numeric=spec.prec is None)
    if verb == "c":
        return _pad(chr(number), spec)
    if verb == "q":
        return _pad(go_quote(chr(number), "'"), spec)
    if verb == "U":
        return _pad(f"U+{number:04X}", spec)
    if verb in "eEfFgG":
        return _bad(spec, original)
    return _bad(spec, original)


def _to_base(number: int, base: int) -> str:
    if base == 10:
        return str(number)
    return {16: f"{number:x}", 8: f"{number:o}", 2: f"{number:b}"}[base]


def _fmt_float(value: float, spec: _Spec) -> str:
    verb = spec.verb
    if verb not in "veEfFgG":
        return _bad(spec, value)
    prec = -1 if spec.prec is None else spec.prec
    if verb == "v":
        text = format_float(abs(value), "g", prec)
    elif verb in "fFeE":
        text = format_float(abs(value), "f" if verb in "fF" else verb, 6 if prec < 0 else prec)
    else:
        text = format_float(abs(value), verb, prec)
    negative = value < 0 or (value == 0 and math.copysign(1, value) < 0)
    return _pad(_sign(text, negative, spec), spec, numeric=True)


def _fmt_str(text: str, spec: _Spec) -> str:
    verb = spec.verb
    if spec.prec is not None and verb in "svq":
        text = text[: spec.prec]
    if verb in "sv":
        return _pad(text, spec)
    if verb == "q":
        return _pad(go_quote(text), spec)
    if verb in "xX":
        hexed = text.encode("utf-8", "surrogateescape").hex()
        return _pad(hexed.upper() if verb == "X" else hexed, spec)
    return _bad(spec, text)


_DIRECTIVE = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?(.?)", re.S)


def sprintf(form: str, args: list[Any]) -> str:
    """``fmt.Sprintf`` for the verbs v s d q x X o b c U t T e E f F g G and %%."""
    out: list[str] = []
    index = 0
    position = 0
    while position < len(form):
        percent = form.find("%", position)
        if percent < 0:
            out.append(form[position:])
            break
        out.append(form[position:percent])
        match = _DIRECTIVE.match(form, percent)
        assert match is not None
        flags, width, prec, verb = match.groups()
        position = match.end()
        if verb == "":
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if verb in "[*":
            raise ExecError("printf argument indexes and * widths are not supported")
        if index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        spec = _Spec(verb, flags, int(width) if width else None, (int(prec) if prec else 0) if prec is not None else None)
        value = args[index]
        index += 1
        if verb not in "vsdqxXobcUtTeEfFgG":
            out.append(_bad(spec, value))
            continue
        if "#" in flags and verb == "v":
            raise ExecError("printf %#v (Go syntax) is not supported")
        out.append(_fmt(value, spec, True))
    if index < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is MISSING else f"{go_type(a)}={_fmt(a, _Spec('v'), False)}" for a in args[index:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def sprint(args: list[Any]) -> str:
    """``fmt.Sprint``: spaces between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    return " ".join(format_value(arg) for arg in args) + "\n"
