"""Every function of Sprig 3.2.3's map is known to the renderer, and werf's glob patterns match as
bmatcuk/doublestar (werf's matcher) matches them — both checked against the Go reference."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from gotemplate import FUNCTIONS, UNSUPPORTED
from gotemplate.glob import BadPattern, compile_pattern, go_clean, match
from tests.template.conftest import call_goref

#: what werf removes from Sprig's map (it reads the whole environment)
REMOVED_BY_WERF = {"expandenv"}


@pytest.fixture(scope="module")
def sprig_names(goref: Path) -> list[str]:
    names: list[str] = call_goref(goref, {"functions": True})["functions"]
    return names


def test_every_sprig_function_is_implemented_or_refused_by_name(sprig_names: list[str]) -> None:
    assert len(sprig_names) >= 200  # Sprig 3.2.3 has 210
    unknown = [n for n in sprig_names if n not in FUNCTIONS and n not in UNSUPPORTED and n not in REMOVED_BY_WERF]
    assert unknown == []


def test_every_must_variant_of_an_implemented_function_is_implemented(sprig_names: list[str]) -> None:
    musts = [n for n in sprig_names if n.startswith("must")]
    assert len(musts) == 30  # with the old spelling must_date_modify
    missing = [n for n in musts if n not in FUNCTIONS and n not in UNSUPPORTED]
    assert missing == []
    # the must… variants refused are exactly those of refused functions (dates)
    assert sorted(n for n in musts if n in UNSUPPORTED) == ["mustDateModify", "mustToDate", "must_date_modify"]


PATTERNS = [
    "*",
    "**",
    "a/*",
    "a/**",
    "**/b",
    "a/**/b",
    "*/b",
    "a*/b",
    "**/*.go",
    "{a,b}/c",
    "a/{b,c}/d",
    "{a,b}{c,d}",
    "a/{b,{c,d}}",
    "a/{,b}c",
    "{src/**/*.go,go.mod}",
    "images/*/{Dockerfile,werf.inc.yaml}",
    "[ab]/c",
    "[^a]/c",
    "[a-c]*",
    "a/??",
    "\\*",
    "a\\?b",
    "[^]",
    "a/**/**",
    "{**,x}/c",
    "x/{a,**}/c",
    "**{a,b}",
    "a**",
    "**b",
    "*.{yaml,yml}",
    "{a,b}/**/c",
    "**/{c,d}",
]
NAMES = [
    "a",
    "b",
    "ac",
    "abc",
    "a/b",
    "a/c",
    "b/c",
    "c/c",
    "x/c",
    "a/b/c",
    "a/x/b",
    "a/b/d",
    "a/bc",
    "a/bb",
    "x/a/c",
    "x/b/c",
    "main.go",
    "src/x/y.go",
    "src/y.go",
    "go.mod",
    "images/x/Dockerfile",
    "images/x/werf.inc.yaml",
    "images/x/y/werf.inc.yaml",
    "*",
    "a?b",
    "axb",
    "]",
    "a.yaml",
    "a.yml",
    "a/b/x/c",
    "a/b/c/d/e",
]


def test_glob_patterns_match_as_doublestar_matches_them(goref: Path) -> None:
    pairs = list(itertools.product(PATTERNS, NAMES))
    answers = call_goref(goref, {"globs": [{"pattern": p, "name": n} for p, n in pairs]})["globs"]
    differences = [
        (pattern, name, answer["matched"])
        for (pattern, name), answer in zip(pairs, answers, strict=True)
        if not answer["error"] and match(pattern, name) != answer["matched"]
    ]
    assert differences == []
    assert sum(answer["matched"] for answer in answers) > 100  # the comparison is not vacuous


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("images/*/{Dockerfile,werf.inc.yaml}", "images/api/werf.inc.yaml", True),
        ("images/*/{Dockerfile,werf.inc.yaml}", "images/api/other.yaml", False),
        ("images/**/werf.inc.yaml", "images/werf.inc.yaml", True),  # ** is zero or more directories
        ("images/**", "images", False),  # …but a trailing ** needs one
        ("images/*", "images/a/b", False),  # * stays in one directory
        ("a**", "abc", True),  # ** inside a component is a *
        ("a**", "a/b", False),
        ("[!a]", "!", True),  # doublestar negates with ^ only
    ],
)
def test_glob_semantics_of_werf(pattern: str, name: str, matched: bool) -> None:
    assert match(pattern, name) is matched


@pytest.mark.parametrize("pattern", ["{a,b", "[a", "a/[]", "[-a]", "a\\"])
def test_malformed_glob_pattern_is_an_error(pattern: str) -> None:
    with pytest.raises(BadPattern, match="syntax error in pattern"):
        compile_pattern(pattern)


@pytest.mark.parametrize(
    ("path", "clean"),
    [("", "."), ("a//b/./c/", "a/b/c"), ("//a/../b", "/b"), ("../a/..", ".."), ("/..", "/"), ("a/../..", "..")],
)
def test_paths_are_cleaned_as_go_cleans_them(path: str, clean: str) -> None:
    assert go_clean(path) == clean
