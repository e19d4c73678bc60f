"""Corpus: what real werf.yaml files use beyond werf v1.1's basics — werf's doublestar globs, werf
v1.2's template data (.Env, .Commit, .Files.Exists / .IsDir), Sprig's must… functions, CRLF files."""

from datetime import datetime, timedelta, timezone

from tests.template.cases import Case

_FILES = {
    "images/api/Dockerfile": "FROM alpine\n",
    "images/api/werf.inc.yaml": "image: api\nfrom: alpine\n",
    "images/web/werf.inc.yaml": "image: web\nfrom: nginx\n",
    "images/web/nested/werf.inc.yaml": "image: nested\n",
    "images/web/README.md": "web\n",
    "modules/a/images/x/Dockerfile": "FROM x\n",
    "modules/b/images/y/werf.inc.yaml": "image: y\n",
    ".werf/consts.yaml": "a: 1\n",
    "known_vulnerabilities.vex": "{}\n",
    "base_images.yml": "alpine: alpine:3.19\nnginx: nginx:1.25\n",
}
_COMMIT = ("8d4e06c5d4a1b6e0e7fb4c3c6a0f6f3d2b1a0c9e", datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=3))))

_KEYS = "{{ range $path, $_ := %s }}{{ $path }};{{ end }}"

V1_2 = [
    Case("glob_braces", _KEYS % '.Files.Glob "images/*/{Dockerfile,werf.inc.yaml}"', files=_FILES),
    Case("glob_braces_nested_and_globstar", _KEYS % '.Files.Glob "{images,modules}/**/{Dockerfile,werf.*.yaml}"', files=_FILES),
    Case("glob_globstar_matches_no_directory", _KEYS % '.Files.Glob "images/**/werf.inc.yaml"', files=_FILES),
    Case("glob_trailing_globstar", _KEYS % '.Files.Glob "images/web/**"', files=_FILES),
    Case("glob_star_stays_in_one_directory", _KEYS % '.Files.Glob "images/*"', files=_FILES),
    Case(
        "glob_class_and_negated_class",
        _KEYS % '.Files.Glob "images/[a-v]*/*"' + "|" + _KEYS % '.Files.Glob "images/[^a]*/*"',
        files=_FILES,
    ),
    Case("glob_question_mark", _KEYS % '.Files.Glob "images/??i/*"', files=_FILES),
    Case("glob_hidden_directory", _KEYS % '.Files.Glob ".werf/*.yaml"', files=_FILES),
    Case("glob_leading_slash_is_the_project", _KEYS % '.Files.Glob "/known_vulnerabilities.vex"', files=_FILES),
    Case("glob_literal_path", _KEYS % '.Files.Glob "images/api/Dockerfile"', files=_FILES),
    Case("glob_dot_segments_are_cleaned", _KEYS % '.Files.Glob "./images/../images/api/*"', files=_FILES),
    Case(
        "glob_merged_with_merge",
        '{{ keys (merge (.Files.Glob "images/api/*") (.Files.Glob "images/web/*")) | sortAlpha | join "," }}',
        files=_FILES,
    ),
    Case("get_leading_slash_is_the_project", '{{ .Files.Get "/base_images.yml" | fromYaml | toJson }}', files=_FILES),
    Case(
        "files_exists_and_is_dir",
        '{{ .Files.Exists "base_images.yml" }} {{ .Files.Exists "images/api" }} {{ .Files.Exists "nope" }} '
        '{{ .Files.IsDir "images" }} {{ .Files.IsDir "base_images.yml" }} {{ .Files.Exists "/images/api/Dockerfile" }}',
        files=_FILES,
    ),
    Case(
        "files_exists_guards_get",
        '{{ $p := "oss.yaml" }}{{ if .Files.Exists $p }}{{ .Files.Get $p }}{{ else }}none{{ end }}',
        files=_FILES,
    ),
    Case("env_of_werf_v1_2", 'env={{ .Env }} {{ if eq .Env "production" }}prod{{ end }}', werf_env="production"),
    Case("env_empty_by_default", '[{{ .Env }}] {{ printf "%s-x" .Env }}', werf_env=""),
    Case(
        "commit_of_werf_v1_2",
        "{{ .Commit.Hash }} {{ .Commit.Date.Unix }} {{ .Commit.Date.Human }} {{ div .Commit.Date.Unix (mul 60 60 24 30) }}",
        commit=_COMMIT,
    ),
    Case("commit_in_utc", "{{ .Commit.Date.Human }}", commit=(_COMMIT[0], datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc))),
    Case(
        "commit_west_of_utc",
        "{{ .Commit.Date.Human }}",
        commit=(_COMMIT[0], datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
    ),
    # Sprig's must… functions that werf.yaml files use
    Case("must_merge", '{{ $a := dict "x" 1 }}{{ $_ := mustMerge $a (dict "x" 2 "y" 3) }}{{ toJson $a }}'),
    Case("must_merge_overwrite", '{{ $a := dict "x" 1 }}{{ mustMergeOverwrite $a (dict "x" 2 "y" 3) | toJson }}'),
    Case(
        "must_last_first_rest_initial",
        "{{ $l := list 1 2 3 }}{{ mustLast $l }} {{ mustFirst $l }} {{ mustRest $l }} {{ mustInitial $l }}",
    ),
    Case(
        "must_uniq_compact_without",
        '{{ list 1 1 "" 2 | mustUniq }} {{ list 1 "" 0 2 | mustCompact }} {{ mustWithout (list 1 2 3) 2 }}',
    ),
    Case("must_has_prepend_reverse", "{{ mustHas 2 (list 1 2) }} {{ mustPrepend (list 2) 1 }} {{ list 1 2 3 | mustReverse }}"),
    Case("must_slice_and_deep_copy", '{{ mustSlice (list 1 2 3 4) 1 3 }} {{ mustDeepCopy (dict "a" (list 1)) | toJson }}'),
    Case("must_chunk_and_chunk", "{{ list 1 2 3 4 5 | mustChunk 2 }} {{ chunk 3 (list 1 2 3 4 5 6) }} {{ chunk 2 list }}"),
    Case("chunk_of_zero_fails", "{{ chunk 0 (list 1 2) }}"),
    Case("must_last_of_a_string_fails", '{{ mustLast "abc" }}'),
    Case("must_to_json_of_a_yaml_map_fails", '{{ mustToJson (fromYaml "a:\\n  b: 1") }}'),
    Case("to_json_of_a_yaml_map_is_empty", '[{{ toJson (fromYaml "a:\\n  b: 1") }}]'),
    Case(
        "os_path_functions",
        '{{ osBase "a/b.c" }} {{ osDir "a/b/c" }} {{ osClean "a//b/../c/" }} {{ osExt "x.tar.gz" }} {{ osIsAbs "/a" }}',
    ),
    Case("clean_and_dir_of_double_slash", '{{ clean "//a/b" }} {{ dir "//a/b" }} {{ clean "" }} {{ dir "a" }}'),
    Case("trimall", '{{ trimall "-" "--a--" }}'),
    # bytes as they are
    Case("crlf_line_ends_stay", 'project: acme\r\nconfigVersion: 1\r\n{{- /* c */}}\r\n---\r\nimage: {{ "app" }}\r\n'),
    Case(
        "crlf_partial_and_trim_markers",
        '{{ include "p" . }}\r\n{{- if true }}\r\nx: 1\r\n{{- end }}\r\n',
        partials={"p.tmpl": '{{ define "p" }}a: 1\r\nb: 2\r\n{{ end }}'},
    ),
]
