"""Every corpus template renders byte for byte as Go's text/template + Sprig + werf's functions do;
where Go fails, the renderer fails too."""

from __future__ import annotations

import pytest

from gotemplate import Commit, Source, TemplateError, render
from gotemplate.glob import compile_pattern, go_clean
from tests.template.cases import Case
from tests.template.corpus import CORPUS


class CaseFiles:
    """A case's project files, as the Go reference's in-memory ``.Files`` reads them."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read(self, path: str) -> str | None:
        return self.files.get(go_clean(path.lstrip("/")))

    def glob(self, pattern: str) -> dict[str, str]:
        compiled = compile_pattern(go_clean(pattern.lstrip("/")))
        return {name: text for name, text in self.files.items() if compiled.match(name)}

    def exists(self, path: str) -> bool:
        return go_clean(path.lstrip("/")) in self.files or self.is_dir(path)

    def is_dir(self, path: str) -> bool:
        clean = go_clean(path.lstrip("/"))
        return clean == "." or any(name.startswith(clean + "/") for name in self.files)


def render_case(case: Case) -> str:
    partials = [Source(name, text, f".werf/{name}") for name, text in sorted(case.partials.items())]
    commit = Commit(case.commit[0], case.commit[1]) if case.commit else None
    return render(
        Source("werfConfig", case.template, "werf.yaml"),
        partials,
        environ=case.env,
        files=CaseFiles(case.files),
        werf_env=case.werf_env,
        commit=commit,
        werf2=case.werf2,
        loose_giterminism=case.loose,
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
