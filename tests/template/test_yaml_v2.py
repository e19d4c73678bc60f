"""YAML read as werf reads it — gopkg.in/yaml.v2 — compared with the Go reference: ``fromYaml``'s
``yaml.Unmarshal`` and werf.yaml sections' ``yaml.UnmarshalStrict``, value types included (tabs,
implicit types, duplicate keys, one document)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from gotemplate.errors import ExecError
from gotemplate.gofmt import format_float
from gotemplate.werf import _from_yaml
from schemas.werf_documents import Document, DocumentProblem, parse_document
from tests.template.conftest import call_goref

TEXTS = [
    # tabs: separators where they are not indentation, and inside plain scalars
    "a:\n- aclocal -I m4 &&\tautoconf\n",
    "a: b\tc\n",
    "a:\tb\n",
    "a: b\t\n",
    "a: b \t # c\n",
    "a: b\t#c\n",
    "a: x\t\ty z\n",
    "a: [b,\tc]\n",
    "a: {b:\tc}\n",
    "a:\t[1]\n",
    "a: |\n  x\ty\n",
    "a: 'x\ty'\n",
    'a: "x\\ty"\n',
    "a: b\n  \t\nc: d\n",
    "key: value\t\n",
    "script:\n- >-\n  if true;\n  then\techo;\n  fi\n",
    # tabs as indentation: refused by yaml.v2 too
    "\ta: 1\n",
    "a:\n\tb: 1\n",
    "a: b\n\tc\n",
    "a:\n  b\n\tc\n",
    "a:\n  -\tb\n",
    "a: b\n\t\nc: d\n",
    "a: >\n  x\n \ty\n",
    # implicit types
    "a: y\nb: n\nc: on\nd: Yes\ne: OFF\nf: true\n",
    "a: 2001-12-14\nb: 1e3\nc: 1:30\nd: 0b11\ne: 0o17\nf: 017\ng: 1_000\nh: .5\ni: +1\nj: 0x1F\nk: -.inf\nl: .NaN\n",
    "a: 1.0\nb: 1.\nc: 6.8523015e+5\nd: 685_230.15\ne: 12:30:00\nf: -0b101\n",
    "a: ~\nb: null\nc:\nd: !!str 1\ne: '1'\n",
    "project: 2024-01-02\nconfigVersion: 1\n",
    "image: [App, y, 1.5e2]\n",
    # structure
    "a: 1\n---\nb: 2\n",
    "a: 1\na: 2\n",
    "? a\n: b\n",
    "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    "- a\n",
    "",
    "# only a comment\n",
]


def _go_value(value: Any) -> str:
    """A value as the Go reference prints it: ``%T:%v``, maps with sorted entries."""
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(sorted(f"{_go_value(k)}:{_go_value(v)}" for k, v in value.items())) + "]"
    if isinstance(value, bool):
        return f"bool:{str(value).lower()}"
    if isinstance(value, int):
        return f"int:{value}"
    if isinstance(value, float):
        return "float64:" + ("NaN" if math.isnan(value) else format_float(value))
    return f"string:{value}"


def _ours(text: str) -> tuple[str | None, str | None]:
    try:
        unmarshal: str | None = _go_value(_from_yaml(text))
    except ExecError:
        unmarshal = None
    try:
        data = parse_document(Document(1, 1, text)).data
        strict: str | None = _go_value(data if data is not None else {}) if isinstance(data, (dict, type(None))) else None
    except DocumentProblem:
        strict = None
    return unmarshal, strict


@pytest.fixture(scope="module")
def go_yaml(goref: Path) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_goref(goref, {"yaml": TEXTS})["yaml"]
    return answer


@pytest.mark.parametrize("index", range(len(TEXTS)), ids=[repr(t)[:40] for t in TEXTS])
def test_reads_yaml_like_yaml_v2(index: int, go_yaml: list[dict[str, Any]]) -> None:
    go = go_yaml[index]
    unmarshal, strict = _ours(TEXTS[index])
    assert unmarshal == (go["value"] if go["ok"] else None), go["error"]
    assert strict == (go["strictValue"] if go["strictOk"] else None), go["strictError"]
