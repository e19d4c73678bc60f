"""Every corpus template renders byte for byte as Go's text/template + Sprig + werf's functions do;
where Go fails, the renderer fails too."""

from __future__ import annotations

import fnmatch
import posixpath

import pytest

from schemas.gotemplate import Source, TemplateError, render
from tests.template.cases import Case
from tests.template.corpus import CORPUS


def render_case(case: Case) -> str:
    def read(path: str) -> str | None:
        return case.files.get(posixpath.normpath(path))

    def glob(pattern: str) -> dict[str, str]:
        return {name: text for name, text in case.files.items() if fnmatch.fnmatchcase(name, pattern)}

    partials = [Source(name, text, f".werf/{name}") for name, text in case.partials.items()]
    return render(
        Source("werfConfig", case.template, "werf.yaml"), partials, environ=case.env, read_file=read, glob_files=glob
    ).text


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 150


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_renders_like_go(case: Case, go_results: dict[str, dict[str, object]]) -> None:
    expected = go_results[case.name]
    if expected["ok"]:
        assert render_case(case) == expected["output"]
    else:
        with pytest.raises(TemplateError):
            output = render_case(case)
            pytest.fail(f"Go failed with {expected['error']!r} but the renderer gave {output!r}")
