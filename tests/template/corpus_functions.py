"""Corpus: one or more templates per supported function."""

from tests.template.cases import Case, cases

STRING_FUNCS = cases(
    ("trim", '{{ trim "  \\t x y \\n " }}|'),
    ("trimAll", '{{ trimAll "$-" "$-$x-y$-" }}|{{ trimAll "" " a " }}|'),
    ("trimPrefix_trimSuffix", '{{ trimPrefix "v" "v1.2" }} {{ trimSuffix "-" "name-" }} {{ trimSuffix "" "x" }}'),
    ("upper_lower", '{{ upper "héllo" }} {{ lower "ÀBC" }}'),
    ("title_untitle", '{{ title "hello wOrld-foo_bar 9lives" }}|{{ untitle "Hello World" }}'),
    ("swapcase", '{{ swapcase "Hello World" }}'),
    ("replace", '{{ replace "/" "-" "feature/a/b" }} {{ "a.b.c" | replace "." "" }}'),
    ("repeat", '{{ repeat 3 "ab" }}|{{ repeat 0 "x" }}|'),
    ("repeat_negative_fails", '{{ repeat -1 "x" }}'),
    ("substr", '{{ substr 0 3 "abcdef" }} {{ substr 2 99 "abcdef" }} {{ substr -1 2 "abcdef" }} {{ substr 1 -1 "abc" }}'),
    ("substr_bad_bounds_fails", '{{ substr 5 2 "abcdef" }}'),
    ("trunc", '{{ trunc 3 "abcdef" }} {{ trunc -2 "abcdef" }} {{ trunc 10 "ab" }} {{ trunc -10 "ab" }}'),
    ("contains_prefix_suffix", '{{ contains "ell" "hello" }} {{ hasPrefix "he" "hello" }} {{ hasSuffix "x" "hello" }}'),
    ("quote_squote", '{{ quote "a\\"b" 1 nil true }}|{{ squote "a" 2 }}|{{ quote .missing }}'),
    ("cat", '{{ cat "a" 1 nil (list 2) "b" }}'),
    ("indent_nindent", 'key:{{ "a: 1\\nb: 2" | nindent 2 }}\n{{ indent 4 "x\\ny" }}'),
    ("wrap", '{{ wrap 10 "the quick brown fox jumps over the lazy dog" }}|{{ wrap 3 "abcdefgh ij" }}'),
    ("wrapWith", '{{ wrapWith 5 "\\t" "Hello World abcdefghij" }}'),
    ("abbrev", '{{ abbrev 5 "hello world" }}|{{ abbrev 3 "hello" }}|{{ abbrev 20 "short" }}'),
    ("abbrevboth", '{{ abbrevboth 5 10 "1234 5678 9123" }}'),
    ("nospace", '{{ nospace "h e l\\tl o\\n" }}'),
    ("initials", '{{ initials "First Try another" }}'),
    (
        "snakecase",
        '{{ snakecase "FirstName" }} {{ snakecase "HTTPStatus" }} {{ snakecase "bld4Floor" }} '
        '{{ snakecase "already_snake" }} {{ snakecase "some-kebab Case" }} {{ snakecase "HTTP2xx" }}',
    ),
    ("kebabcase", '{{ kebabcase "FirstName" }} {{ kebabcase "featureABC_12" }} {{ kebabcase "a b" }}'),
    ("camelcase", '{{ camelcase "http_server" }} {{ camelcase "_my_field" }} {{ camelcase "a-b c" }} {{ camelcase "x" }}'),
    ("plural", '{{ plural "one" "many" 1 }} {{ plural "one" "many" 2 }} {{ len (list 1) | plural "image" "images" }}'),
    ("split_keys", '{{ $p := split "/" "feature/login/x" }}{{ $p._0 }} {{ $p._1 }} {{ $p._2 }} {{ $p }}'),
    ("splitn", '{{ splitn "-" 2 "a-b-c" }} {{ (splitn "-" 2 "a-b-c")._1 }}'),
    ("splitList", '{{ splitList "," "a,b,,c" }} {{ splitList "" "abc" }} {{ len (splitList "," "") }}'),
    ("join", '{{ join "," (list "a" 1 nil true) }} {{ join "-" (splitList "." "a.b") }} {{ join "," "solo" }}'),
    ("sortAlpha", '{{ sortAlpha (list "b" "C" "a" 10 2) }} {{ sortAlpha "x" }}'),
    ("toString_toStrings", '{{ toString 1 }} {{ toString 1.5 }} {{ toString (list 1 "a") }} {{ toStrings (list 1 nil "b") }}'),
    ("toDecimal", '{{ toDecimal "777" }} {{ toDecimal "9" }}'),
    ("regexMatch", '{{ regexMatch "^feature/.*" "feature/x" }} {{ regexMatch "[0-9]+" "abc" }}'),
    (
        "regexFind_regexFindAll",
        '{{ regexFind "[0-9]+" "ab12cd345" }} {{ regexFindAll "[0-9]+" "a1b22c333" -1 }} '
        '{{ regexFindAll "[0-9]" "a1b2c3" 2 }} {{ regexFindAll "a*" "baaac" -1 }}',
    ),
    (
        "regexReplaceAll",
        '{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} {{ regexReplaceAll "(?P<n>[a-z]+)-([0-9]+)" "ab-12 cd-3" "$2.$n" }}'
        ' {{ regexReplaceAll "[^a-z0-9-]" (lower "Feature/ABC_12") "-" }}',
    ),
    ("regexReplaceAll_dollar_forms", '{{ regexReplaceAll "(a)(b)" "ab ab" "$1x|$$|${2}" }}'),
    ("regexReplaceAllLiteral", '{{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}'),
    (
        "regexSplit",
        '{{ regexSplit "z+" "pizza" -1 }} {{ regexSplit "z+" "pizza" 1 }} {{ regexSplit "," "a,b,c" 2 }} {{ regexSplit "x" "" -1 }}',
    ),
    ("regex_bad_pattern_fails", '{{ regexMatch "(" "x" }}'),
)

LIST_FUNCS = cases(
    ("list", '{{ list 1 "a" nil (list 2) }}'),
    ("first_last", '{{ first (list 1 2 3) }} {{ last (list 1 2 3) }} {{ first (splitList "," "x,y") }}'),
    ("rest_initial", "{{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }} {{ rest (list) }}"),
    ("first_of_string_fails", '{{ first "abc" }}'),
    ("append_push_prepend", '{{ append (list 1) 2 }} {{ push (list "a") "b" }} {{ prepend (list 2 3) 1 }}'),
    ("concat", '{{ concat (list 1 2) (list 3) (splitList "," "a,b") }}'),
    ("reverse_uniq", '{{ reverse (list 1 2 3) }} {{ uniq (list 1 "1" 1 2 "a" "a" 1.0) }}'),
    ("without_has", '{{ without (list 1 2 3 2) 2 }} {{ has 2 (list 1 2) }} {{ has "2" (list 1 2) }} {{ has 1 nil }}'),
    ("compact", '{{ compact (list 0 1 "" "a" nil false true (list) (dict)) }}'),
    ("slice_sprig", '{{ slice (list 1 2 3 4 5) 1 3 }} {{ slice (splitList "," "a,b,c") 1 | printf "%T" }}'),
    ("tuple", '{{ tuple 1 "a" }}'),
    (
        "until_untilStep_seq",
        "{{ until 3 }} {{ until -3 }} {{ untilStep 0 10 3 }} {{ untilStep 5 0 -2 }} "
        "{{ seq 3 }} {{ seq 2 5 }} {{ seq 10 -3 1 }} {{ seq 0 }} {{ seq 5 2 }}",
    ),
    ("chunk_like_range_break", '{{ range $i, $e := list "a" "b" "c" }}{{ if $i }},{{ end }}{{ $e }}{{ end }}'),
)

DICT_FUNCS = cases(
    ("dict_odd_args", '{{ dict "a" 1 "b" }} {{ dict 1 2 }}'),
    (
        "get_set_unset",
        '{{ $d := dict "a" 1 }}{{ get $d "a" }}|{{ get $d "x" }}|{{ $_ := set $d "b" 2 }}{{ $d }}'
        '|{{ $_ := unset $d "a" }}{{ $d }}',
    ),
    ("hasKey", '{{ hasKey (dict "a" nil) "a" }} {{ hasKey (dict) "a" }}'),
    (
        "keys_values_sorted",
        '{{ keys (dict "b" 1 "a" 2) | sortAlpha }} {{ values (dict "x" "only") }} '
        '{{ keys (dict "a" 1) (dict "b" 2) | sortAlpha }}',
    ),
    ("pick_omit", '{{ pick (dict "a" 1 "b" 2 "c" 3) "a" "c" "z" }} {{ omit (dict "a" 1 "b" 2) "a" }}'),
    ("pluck", '{{ pluck "name" (dict "name" "a") (dict "x" 1) (dict "name" "b") }}'),
    ("dig", '{{ dig "a" "b" "default" (dict "a" (dict "b" "found")) }} {{ dig "a" "z" "dflt" (dict "a" (dict)) }}'),
    ("merge", '{{ merge (dict "a" 1 "n" (dict "x" 1)) (dict "a" 2 "b" 3 "n" (dict "y" 2)) }}'),
    ("merge_empty_dst_value", '{{ merge (dict "a" "" "b" 0) (dict "a" "filled" "b" 5) }}'),
    ("mergeOverwrite", '{{ mergeOverwrite (dict "a" 1 "n" (dict "x" 1 "k" "old")) (dict "a" 2 "n" (dict "k" "new")) }}'),
    ("mergeOverwrite_empty_src", '{{ mergeOverwrite (dict "a" 1 "b" "keep") (dict "a" 0 "b" "") }}'),
    ("deepCopy", '{{ $a := dict "l" (list 1) }}{{ $b := deepCopy $a }}{{ $_ := set $b "x" 1 }}{{ $a }} {{ $b }}'),
    (
        "set_dot_name_chain",
        '{{ $c := dict }}{{ "feature/VERY-long-branch-name-that-exceeds-the-kubernetes-limit-" '
        '| lower | trunc 49 | trimSuffix "-" | set $c "Name" }}{{ $c.Name }}',
    ),
    ("get_on_yaml_nested_fails", '{{ get (fromYaml "a:\\n  b: 1\\n").a "b" }}'),
    ("dict_field_and_index", '{{ $d := dict "key-with-dash" 1 "k" 2 }}{{ index $d "key-with-dash" }} {{ $d.k }}'),
)

DEFAULT_FUNCS = cases(
    (
        "default",
        '{{ default "d" "" }} {{ default "d" "v" }} {{ default 5 0 }} {{ default "d" .missing }} '
        '{{ "x" | default "d" }} {{ default "d" (list) }} {{ default "d" false }}',
    ),
    (
        "empty",
        '{{ empty "" }} {{ empty 0 }} {{ empty (list) }} {{ empty (dict) }} {{ empty "a" }} {{ empty .nope }} {{ empty 0.0 }}',
    ),
    ("coalesce", '{{ coalesce "" 0 "first" "second" }} {{ coalesce "" 0 }}'),
    ("all_any", '{{ all 1 "a" true }} {{ all 1 "" }} {{ any 0 "" "x" }} {{ any 0 }}'),
    ("ternary", '{{ ternary "yes" "no" true }} {{ true | ternary "a" "b" }} {{ ternary 1 2 (eq 1 2) }}'),
    (
        "fromJson_toJson",
        '{{ $j := fromJson "{\\"b\\":[1,2.5,null,true],\\"a\\":{\\"x\\":\\"<y>\\"}}" }}{{ $j.b }} {{ toJson $j }}',
    ),
    ("fromJson_invalid_is_nil", '{{ fromJson "{bad" }}|{{ fromJson "3" }}'),
    ("toPrettyJson_toRawJson", '{{ toPrettyJson (dict "b" (list 1 2) "a" "<&>" "e" (dict)) }}\n{{ toRawJson (dict "a" "<&>") }}'),
    (
        "toJson_scalars",
        '{{ toJson "a\\u2028\\t" }} {{ toJson 1.5 }} {{ toJson (float64 1e21) }} {{ toJson nil }} {{ toJson (list) }}',
    ),
    ("fail_fails", '{{ fail "stop here" }}'),
    ("required_present", '{{ required "need x" "x" }}'),
    ("required_missing_fails", '{{ required "value .image is required" .image }}'),
    ("required_empty_fails", '{{ required "empty" "" }}'),
)

MATH_FUNCS = cases(
    ("add_sub_mul", '{{ add 1 2 3 }} {{ add }} {{ sub 10 3 }} {{ mul 2 3 4 }} {{ add "3" 4 }} {{ add 1.9 1 }}'),
    ("add1_div_mod", "{{ add1 41 }} {{ div 7 2 }} {{ div -7 2 }} {{ mod 7 3 }} {{ mod -7 3 }}"),
    ("div_by_zero_fails", "{{ div 1 0 }}"),
    ("max_min", "{{ max 1 5 3 }} {{ min 4 2 8 }} {{ max 1 }} {{ biggest 1 9 }}"),
    (
        "floor_ceil_round",
        '{{ floor 1.7 }} {{ ceil 1.2 }} {{ round 3.14159 2 }} {{ round 2.5 0 }} {{ round 1.45 1 0.6 }} {{ floor "2.5" }}',
    ),
    (
        "int_int64_float64",
        '{{ int "12" }} {{ int 3.9 }} {{ int64 "0x10" }} {{ float64 "1.5" }} {{ int "x" }} {{ int "3.0" }} {{ float64 3 }}',
    ),
    ("atoi", '{{ atoi "42" }} {{ atoi "-3" }} {{ atoi "x1" }} {{ atoi " 1" }}'),
    ("int_types_printf", '{{ printf "%T %T %T %T" (int 1) (int64 1) (float64 1) (atoi "1") }}'),
    ("commit_date_string_to_div", '{{ $unix := "1700000000" }}{{ div $unix 86400 }} {{ div (int64 $unix) 3600 }}'),
)

ENCODING_FUNCS = cases(
    ("b64", '{{ b64enc "hello werf" }} {{ b64dec "aGVsbG8gd2VyZg==" }} {{ b64dec "!!" }}'),
    ("b32", '{{ b32enc "hi" }} {{ b32dec "NBUQ====" }}'),
    ("sums", '{{ sha256sum "abc" }} {{ sha1sum "abc" }} {{ adler32sum "abc" }}'),
    ("sha_trunc_tag", '{{ "main" | sha256sum | trunc 8 }}'),
)

TYPE_FUNCS = cases(
    (
        "typeOf_kindOf",
        '{{ typeOf 1 }} {{ typeOf "a" }} {{ typeOf (list) }} {{ kindOf (dict) }} {{ kindOf 1.5 }} {{ kindOf nil }}',
    ),
    ("typeIs_kindIs", '{{ typeIs "int" 1 }} {{ kindIs "slice" (list) }} {{ kindIs "map" "x" }} {{ typeIsLike "string" "a" }}'),
    ("deepEqual", '{{ deepEqual (list 1 (dict "a" 2)) (list 1 (dict "a" 2)) }} {{ deepEqual 1 "1" }}'),
    (
        "paths",
        '{{ base "/a/b.tar.gz" }} {{ dir "/a/b/c" }} {{ clean "a//b/../c/" }} {{ ext "x/y.yaml" }} {{ isAbs "/x" }} {{ base "" }}',
    ),
    ("hello", "{{ hello }}"),
)

WERF_FUNCS = cases(
    (
        "env_set_unset_default",
        '{{ env "E" }}|{{ env "UNSET_VAR" }}|{{ env "UNSET_VAR" "dflt" }}|{{ env "EMPTY" "dflt" }}|{{ env "E" "d" }}',
    ),
    ("env_too_many_args_fails", '{{ env "E" "a" "b" }}'),
    ("env_in_pipeline", '{{ "E" | env }} {{ env "CI_COMMIT_REF_NAME" | lower | replace "/" "-" }}'),
    ("files_get", '{{ .Files.Get "f.txt" }}|{{ .Files.Get "missing.txt" }}|{{ .Files.Get "dir/../f.txt" }}'),
    ("files_get_indent", 'script:\n{{ .Files.Get "scripts/build.sh" | indent 2 }}'),
    ("files_glob", '{{ range $path, $content := .Files.Glob "scripts/*.sh" }}{{ $path }}={{ $content | trim }};{{ end }}'),
    ("files_glob_no_match", '{{ .Files.Glob "nope/*" }}|{{ range .Files.Glob "nope/*" }}x{{ else }}none{{ end }}'),
    (
        "fromYaml",
        '{{ $y := fromYaml "a: 1\\nb: [x, y]\\nc:\\n  d: true\\nday: 2001-01-01\\nn: ~" }}{{ $y.a }} {{ $y.b }} {{ $y.c.d }} {{ $y.day }} {{ $y.n }} {{ $y }}',
    ),
    ("fromYaml_invalid_fails", '{{ fromYaml "a: [" }}'),
    ("fromYaml_list_fails", '{{ fromYaml "- a" }}'),
    ("fromYaml_of_file", '{{ $v := .Files.Get "values.yaml" | fromYaml }}{{ $v.replicas }} {{ index $v.images 0 }}'),
    ("toYaml_not_defined", "{{ toYaml . }}"),
    ("expandenv_not_defined", '{{ expandenv "$E" }}'),
)

_FILES = {
    "f.txt": "file content\n",
    "scripts/build.sh": "#!/bin/sh\nmake build\n",
    "scripts/test.sh": "make test\n",
    "values.yaml": "replicas: 3\nimages:\n  - backend\n  - frontend\n",
}

FUNCTIONS = [
    Case(c.name, c.template, c.partials, {**_FILES, **c.files}, c.env)
    for c in STRING_FUNCS + LIST_FUNCS + DICT_FUNCS + DEFAULT_FUNCS + MATH_FUNCS + ENCODING_FUNCS + TYPE_FUNCS + WERF_FUNCS
]
