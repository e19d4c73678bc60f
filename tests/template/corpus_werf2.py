"""Corpus: werf.yaml as werf 2.x renders it (a --repo project) — toYaml (yaml.v2's Marshal), the
*_debug functions, required, env with a default and without one (an error unless werf's loose
giterminism), .Files.Get of a missing file (an error), .Files.Exists / .IsDir, .Env and .Commit;
and YAML with tabs read by fromYaml, in werf v1.1 and werf 2.x alike (both read with yaml.v2)."""

import json
from datetime import datetime, timedelta, timezone

from tests.template.cases import DEFAULT_ENV, Case

_KEYS = "{{ range $path, $_ := %s }}{{ $path }};{{ end }}"
_COMMIT = ("0123456789abcdef0123456789abcdef01234567", datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2))))


def _w2(name: str, template: str, **kwargs: object) -> Case:
    return Case(name, template, files=kwargs.pop("files", _FILES), werf2=True, **kwargs)  # type: ignore[arg-type]


_STRINGS = [
    "plain",
    "true",
    "y",
    "Yes",
    "off",
    "null",
    "~",
    "",
    "123",
    "-1.5",
    "1e3",
    "0x1F",
    "0o17",
    "1_000",
    ".inf",
    "2024-01-02",
    "2024-13-02",
    "2024-01-02T03:04:05Z",
    "2024-01-02 03:04:05",
    "1:30",
    "12:30:45",
    " lead",
    "trail ",
    "a: b",
    "a:b",
    "- x",
    "-x",
    "#c",
    "a #b",
    "a#b",
    "key:",
    "[x]",
    "{x}",
    "*ref",
    "&anchor",
    "!tag",
    "%p",
    "@at",
    "`tick",
    "'q'",
    '"q"',
    "?",
    "? x",
    "---",
    "...",
    "a, b",
    "multi\nline",
    "multi\nline\n",
    "multi\nline\n\n",
    "\nleading break",
    "trailing space \nline",
    "  indented\nline",
    "a\tb",
    "\ttab",
    "héllo wörld",
    "emoji 😀",
    "bell\x07",
    "nbsp\xa0here",
    "long " * 30,
    "word " * 20 + "\t" + "word " * 20,
    "x" * 100,
    "<<",
    "=",
    "a\\b",
]


_FILES = {
    "values.yaml": "shell:\n  install:\n  - aclocal -I m4 &&\tautoconf\n  - make\tinstall\n",
    "tabs.yaml": "a:\tb\nlist: [x,\ty]\nplain: one\ttwo   # comment\n",
    "images/api/Dockerfile": "FROM alpine\n",
    "images/api/werf.inc.yaml": "image: api\n",
    "images/web/nested/werf.inc.yaml": "image: nested\n",
    "images/top.yaml": "image: top\n",
    "base.yml": "alpine: alpine:3.19\nwhen: 2024-01-02\nyes: y\nfloat: 1e3\n",
}
_FILES["strings.json"] = json.dumps(_STRINGS)  #: the strings toYaml is given

WERF2 = [
    # toYaml: yaml.v2's Marshal of every kind of value a template holds
    _w2("to_yaml_strings", '{{ range $s := (.Files.Get "strings.json" | fromJson) }}{{ toYaml $s }}\n--\n{{ end }}'),
    _w2(
        "to_yaml_scalars",
        '{{ toYaml 1 }}|{{ toYaml 1.5 }}|{{ toYaml true }}|{{ toYaml nil }}|{{ toYaml (add 1 2) }}|{{ toYaml (float64 "1e21") }}|{{ toYaml (float64 "0.000001") }}|{{ toYaml (div 7 2) }}',
    ),
    _w2(
        "to_yaml_dict_key_order",
        '{{ toYaml (dict "a10" 1 "a9" 2 "B" 3 "b" 4 "_x" 5 "1" 6 "a_1" 7 "a1" 8 "10" 9 "2" 10 "a01" 11 "a001" 12 "Z" 13 "é" 14) }}',
    ),
    _w2(
        "to_yaml_nested",
        '{{ toYaml (dict "list" (list 1 "two" (dict "k" "v") (list) (dict)) "empty" (dict) "none" nil "text" "multi\\nline\\n") | nindent 2 }}',
    ),
    _w2("to_yaml_list_top", '{{ toYaml (list "a" (list "b" "c") (dict "d" (list "e"))) }}'),
    _w2("to_yaml_split", '{{ toYaml (split "/" "a/b/c") }}|{{ toYaml (splitList "," "x,true,3") }}'),
    _w2(
        "to_yaml_from_yaml", '{{ .Files.Get "values.yaml" | fromYaml | toYaml }}\n{{ .Files.Get "base.yml" | fromYaml | toYaml }}'
    ),
    _w2("to_yaml_from_yaml_mixed_keys", '{{ "1: a\\ntrue: b\\n2.5: c\\nx: d\\n~: e\\n" | fromYaml | toYaml }}'),
    _w2("to_yaml_nested_mixed_keys", '{{ "m:\\n  1: a\\n  b: c\\n  0: d\\n  2.5: e\\n  -1: f\\n" | fromYaml | toYaml }}'),
    _w2(
        "to_yaml_files_and_root",
        '{{ toYaml .Files }}|{{ toYaml .Env }}|{{ toYaml (omit . "Files") }}',
        werf_env="staging",
        commit=_COMMIT,
    ),
    _w2("to_yaml_glob", '{{ toYaml (.Files.Glob "images/**/*") }}'),
    _w2("to_yaml_semver", '{{ toYaml (semver "1.2.3") }}'),
    _w2(
        "to_yaml_in_image",
        'image: app\nshell:\n  install:\n  {{- toYaml (list "make\\tall" "echo \\"hi\\"" "a: b") | nindent 2 }}\n',
    ),
    # the debugging functions, without werf's --debug-templates
    _w2(
        "debug_functions",
        '{{ define "t" }}T{{ . }}{{ end }}{{ include_debug "t" 1 }}|{{ tpl_debug "{{ .x }}" (dict "x" 2) }}|'
        '[{{ printf_debug "%s" "z" }}]|[{{ dump_debug . }}]',
    ),
    # required and env as werf 2.x defines them
    _w2("required_passes", '{{ required "need it" "v" }}|{{ required "need it" 0 }}|{{ required "need it" false }}'),
    _w2("required_fails_on_empty", '{{ required "the value is empty" "" }}'),
    _w2("required_fails_on_nil", '{{ required "the key is missing" .nope }}'),
    _w2("required_of_missing_env", '{{ required "set CI_X" (env "CI_X" "") }}'),
    _w2("env_default_when_unset", '{{ env "UNSET_VAR" "fallback" }}|{{ env "EMPTY" "fallback" }}|{{ env "E" "fallback" }}'),
    _w2("env_set_without_default", '{{ env "E" }}|[{{ env "EMPTY" }}]'),
    _w2("env_unset_without_default_fails", '{{ env "UNSET_VAR" }}'),
    Case("env_unset_without_default_loose", '[{{ env "UNSET_VAR" }}]', werf2=True, loose=True),
    _w2("env_two_defaults_fail", '{{ env "E" "a" "b" }}'),
    _w2("env_of_werf_env", '{{ env "WERF_ENV" }}', env={**DEFAULT_ENV}),
    # .Files and the data werf 2.x always gives
    _w2(
        "files_exists_is_dir",
        '{{ .Files.Exists "values.yaml" }} {{ .Files.Exists "images" }} {{ .Files.Exists "nope.txt" }} '
        '{{ .Files.IsDir "images" }} {{ .Files.IsDir "values.yaml" }} {{ .Files.IsDir "nope" }} {{ .Files.IsDir "/" }}',
    ),
    # .Files.Glob through werf 2.x's path matcher: a match takes what is below it
    _w2("glob_star_takes_files_below", _KEYS % '.Files.Glob "images/*"'),
    _w2("glob_literal_directory_takes_files_below", _KEYS % '.Files.Glob "images/web"'),
    _w2("glob_literal_file", _KEYS % '.Files.Glob "images/api/Dockerfile"'),
    _w2("glob_component_pattern", _KEYS % '.Files.Glob "images/*/werf.inc.yaml"'),
    _w2("glob_extension_pattern", _KEYS % '.Files.Glob "images/**/*.yaml"'),
    _w2("glob_everything", _KEYS % '.Files.Glob "*"'),
    _w2("glob_braces_and_leading_slash", _KEYS % '.Files.Glob "/{images,nope}/*/Dockerfile"'),
    _w2("glob_no_match", _KEYS % '.Files.Glob "nope/*"'),
    _w2("glob_range_of_contents", '{{ range $p, $c := .Files.Glob "images/*" }}{{ $c }}{{ end }}'),
    _w2("files_get_present", '{{ .Files.Get "/base.yml" }}'),
    _w2("files_get_missing_fails", '{{ .Files.Get "missing.yaml" }}'),
    _w2(
        "werf2_files_exists_guards_get",
        '{{ if .Files.Exists "missing.yaml" }}{{ .Files.Get "missing.yaml" }}{{ else }}none{{ end }}',
    ),
    _w2("env_is_empty_by_default", "[{{ .Env }}] {{ if not .Env }}default{{ end }}"),
    _w2("env_given", "{{ .Env }}", werf_env="production"),
    _w2("commit_data", "{{ .Commit.Hash }} {{ .Commit.Date.Human }} {{ .Commit.Date.Unix }}", commit=_COMMIT),
    # YAML with tabs read by fromYaml (yaml.v2), werf 2.x and werf v1.1 alike
    _w2(
        "from_yaml_tab_in_plain_scalar",
        '{{ $v := .Files.Get "values.yaml" | fromYaml }}{{ range $v.shell.install }}[{{ . }}]{{ end }}',
    ),
    _w2("from_yaml_tabs_as_separators", '{{ .Files.Get "tabs.yaml" | fromYaml | toJson }}'),
    _w2(
        "from_yaml_implicit_types",
        '{{ $b := .Files.Get "base.yml" | fromYaml }}{{ typeOf $b.when }} {{ typeOf $b.yes }} {{ typeOf $b.float }}',
    ),
    Case(
        "from_yaml_tab_in_plain_scalar_v1_1",
        '{{ $v := .Files.Get "values.yaml" | fromYaml }}{{ range $v.shell.install }}[{{ . }}]{{ end }}',
        files=_FILES,
    ),
    Case("from_yaml_tabs_as_separators_v1_1", '{{ .Files.Get "tabs.yaml" | fromYaml | toJson }}', files=_FILES),
    Case("from_yaml_tab_as_indentation_fails", '{{ "a:\\n\\tb: 1\\n" | fromYaml | toJson }}'),
    Case("from_yaml_first_document_only", '{{ "a: 1\\n---\\nb: 2\\n" | fromYaml | toJson }}'),
]
