"""Go-style durations (``time.ParseDuration``): ``168h``, ``30m``, ``1h30m``, ``1.5h``, ``250ms``."""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction

_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> timedelta:
    """Parse a Go ``time.ParseDuration`` string (``168h``, ``30m``, ``1h30m``, ``1.5h``).

    Negative durations are refused: a keep window reaching into the future means nothing.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a Go duration string such as 168h, 30m or 1h30m, got {text!r}")
    body = text[1:] if text.startswith("+") else text
    if body == "0":
        return timedelta(0)
    if body.startswith("-"):
        raise ValueError(f"duration {text!r} is negative; expected a positive duration such as 168h")
    nanoseconds = Fraction(0)
    pos = 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: expected numbers with units ns, us, µs, ms, s, m or h (e.g. 168h, 30m, 1h30m)"
            )
        nanoseconds += Fraction(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError("empty duration; expected e.g. 168h, 30m or 1h30m")
    return timedelta(microseconds=round(nanoseconds / 1000))


def format_go_duration(value: timedelta) -> str:
    """Render a duration the way werf.yaml writes it (``168h``, ``1h30m``, ``90s``)."""
    micros = value // timedelta(microseconds=1)
    hours, rest = divmod(micros, 3600 * 10**6)
    minutes, rest = divmod(rest, 60 * 10**6)
    seconds = Fraction(rest, 10**6)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if seconds:
        text += f"{float(seconds):g}s"
    return text or "0s"
