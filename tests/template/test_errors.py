"""Template errors name the file, line, column and function; nothing unsupported renders silently."""

from __future__ import annotations

import pytest

from gotemplate import UNSUPPORTED, Source, TemplateError, render
from schemas.errors import ConfigError


def render_text(text: str, partials: dict[str, str] | None = None, env: dict[str, str] | None = None) -> str:
    sources = [Source(name, body, f".werf/{name}") for name, body in (partials or {}).items()]
    return render(Source("werfConfig", text, "werf.yaml"), sources, environ=env).text


def error_of(text: str, partials: dict[str, str] | None = None) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render_text(text, partials)
    return caught.value


def test_the_engine_error_is_its_own_and_reaches_stagesweep_as_a_config_error() -> None:
    from schemas.config import parse_werf_config

    assert not issubclass(TemplateError, ConfigError)  # the engine knows nothing of the application
    with pytest.raises(ConfigError) as caught:
        parse_werf_config('project: x\nname: {{ "abc" | trunc "3" }}\n')
    error = caught.value
    assert isinstance(error, TemplateError)
    assert (error.file, error.line, error.column, error.function) == ("werf.yaml", 2, 24, "trunc")
    assert str(error) == 'werf.yaml: line 2, column 24: trunc: expected integer; found "3"'


def test_wrong_argument_type_names_line_column_and_function() -> None:
    error = error_of('project: x\nname: {{ "abc" | trunc "3" }}\n')
    assert (error.file, error.line, error.column, error.function) == ("werf.yaml", 2, 24, "trunc")
    assert str(error) == 'werf.yaml: line 2, column 24: trunc: expected integer; found "3"'


def test_function_failure_names_the_function() -> None:
    error = error_of("a: 1\nb: {{ div 1 0 }}")
    assert (error.line, error.column, error.function) == (2, 7, "div")
    assert "integer divide by zero" in str(error)


def test_unknown_function_is_a_parse_error_even_in_a_branch_never_taken() -> None:
    error = error_of("{{ if false }}\n  {{ nosuch 1 }}\n{{ end }}")
    assert (error.line, error.column, error.function) == (2, 6, "nosuch")
    assert "function 'nosuch' not defined" in str(error)


@pytest.mark.parametrize("name", ["now", "uuidv4", "randAlphaNum", "genPrivateKey", "getHostByName", "date"])
def test_nondeterministic_functions_are_refused_by_name(name: str) -> None:
    assert name in UNSUPPORTED
    error = error_of(f"x: {{{{ {name} }}}}")
    assert error.function == name
    assert f"function {name!r} is not supported" in str(error)


def test_expandenv_and_toyaml_are_not_werf_functions() -> None:
    assert "werf removes it; use env" in str(error_of('{{ expandenv "$HOME" }}'))
    assert "werf v1.1 and v1.2 provide fromYaml only" in str(error_of("{{ toYaml . }}"))


def test_syntax_error_names_line_and_column() -> None:
    error = error_of("a: 1\nb: {{ if }}\n{{ end }}")
    assert (error.line, error.column) == (2, 10)
    assert "missing value for if" in str(error)


def test_unclosed_action_points_at_its_start() -> None:
    error = error_of("a: 1\n\nb: {{ .x \n")
    assert (error.line, error.column) == (3, 4)
    assert "unclosed action" in str(error)


def test_error_inside_a_partial_names_the_partial_file() -> None:
    error = error_of('{{ include "img.tmpl" . }}', {"img.tmpl": '{{ define "img.tmpl" }}\nimage: {{ fail "boom" }}{{ end }}'})
    assert (error.file, error.line, error.function) == (".werf/img.tmpl", 2, "fail")
    assert str(error).endswith("fail: boom")


def test_error_in_text_given_to_tpl_names_the_caller() -> None:
    error = error_of('a: 1\nb: {{ tpl "{{ fail \\"inner\\" }}" . }}')
    assert error.file is not None and error.file.startswith("werf.yaml (text given to tpl at line 2")
    assert error.function == "fail"


def test_required_reports_its_message() -> None:
    error = error_of('image: {{ required "set .image" .image }}')
    assert (error.function, error.reason) == ("required", "set .image")


def test_unsupported_regex_syntax_is_refused_not_guessed() -> None:
    error = error_of('{{ regexFind "\\\\p{Greek}+" "abc" }}')
    assert error.function == "regexFind" and "RE2 syntax" in str(error)


def test_unsupported_printf_forms_are_refused() -> None:
    assert error_of('{{ printf "%[1]s" "a" }}').function == "printf"
    assert error_of('{{ printf "%#v" "a" }}').function == "printf"


def test_endless_recursion_stops_with_an_error() -> None:
    error = error_of('{{ define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}')
    assert "maximum template depth" in str(error)


def test_rendering_is_deterministic() -> None:
    text = '{{ range $k, $v := dict "b" 1 "a" 2 "c" 3 }}{{ $k }}{{ $v }}{{ end }}{{ keys (dict "x" 1 "y" 2) | sortAlpha }}'
    assert {render_text(text) for _ in range(5)} == {"a2b1c3[x y]"}
