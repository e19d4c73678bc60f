"""Corpus: realistic werf.yaml files (monorepos, env-dependent keep policies, .werf/ partials)."""

from tests.template.cases import DEFAULT_ENV, Case

_META = """project: {{ env "PROJECT" "acme" }}
configVersion: 1
"""

WERF = [
    Case("werf_plain_multi_doc", "project: acme\nconfigVersion: 1\n---\nimage: backend\nfrom: alpine\n---\nimage: ~\n"),
    Case(
        "werf_monorepo_range_images",
        _META
        + """{{- $images := list "api" "worker" "web" }}
{{- range $images }}
---
image: {{ . }}
dockerfile: {{ . }}/Dockerfile
context: {{ . }}
{{- end }}
""",
    ),
    Case(
        "werf_variable_set_in_doc1_used_in_doc3",
        """{{ $base := "registry.example.com/base:1.2" }}project: acme
configVersion: 1
---
image: first
from: alpine
---
image: second
from: {{ $base }}
""",
    ),
    Case(
        "werf_env_dependent_keep_policies",
        _META
        + """cleanup:
  keepPolicies:
  - references:
      tag: /.*/
      limit:
        last: {{ if eq (env "WERF_ENV") "production" }}20{{ else }}5{{ end }}
  - references:
      branch: /.*/
      limit:
        last: {{ env "KEEP_BRANCHES" "10" }}
        in: 168h
        operator: And
    imagesPerReference:
      last: 2
  - references:
      branch: /^(main|master|staging|production)$/
    imagesPerReference:
      last: {{ env "KEEP_MAIN" "10" }}
---
image: app
from: alpine
""",
        env={**DEFAULT_ENV, "WERF_ENV": "staging"},
    ),
    Case(
        "werf_partials_in_dot_werf",
        """{{ include "meta.tmpl" . }}
{{- range $name := list "backend" "frontend" }}
---
{{ include "image.tmpl" (dict "name" $name "root" $) }}
{{- end }}
""",
        partials={
            "meta.tmpl": "project: acme\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references:\n      branch: main\n",
            "image.tmpl": '{{- define "image.tmpl" -}}\nimage: {{ .name }}\nfrom: {{ .root.Files.Get "base-image.txt" | trim }}\n{{- end -}}',
        },
        files={"base-image.txt": "alpine:3.18\n"},
    ),
    Case(
        "werf_nested_partials_dirs",
        """project: acme
configVersion: 1
{{ range list "a" "b" }}
---
{{ include "artifact/build.tmpl" . }}
{{ end }}""",
        partials={
            "artifact/build.tmpl": 'artifact: {{ . }}-builder\nfrom: golang:1.21\n{{ template "common/mounts.tmpl" . }}',
            "common/mounts.tmpl": "mount:\n- from: build_dir\n  to: /root/.cache/{{ . }}\n",
        },
    ),
    Case(
        "werf_define_in_main_used_before",
        """project: acme
configVersion: 1
---
{{ template "img" "api" }}
---
{{ template "img" "cron" }}
{{ define "img" }}image: {{ . }}
from: {{ $.Files }}{{ end }}
""",
    ),
    Case(
        "werf_branch_slug_name",
        """{{- $c := dict }}
{{- env "CI_COMMIT_REF_NAME" | lower | regexReplaceAll "[^a-z0-9-]+" "-" | trunc 49 | trimSuffix "-" | set $c "Name" }}
project: acme-{{ $c.Name }}
configVersion: 1
""",
    ),
    Case(
        "werf_split_ref_parts",
        """{{- $parts := split "/" (env "CI_COMMIT_REF_NAME") }}
project: acme
configVersion: 1
cleanup:
  keepPolicies:
  - references:
      branch: /^{{ $parts._0 }}\\/.*/
    imagesPerReference:
      last: 1
""",
    ),
    Case(
        "werf_files_glob_images",
        """project: acme
configVersion: 1
{{- range $path, $_ := .Files.Glob "services/*/Dockerfile" }}
{{- $name := $path | dir | base }}
---
image: {{ $name }}
dockerfile: {{ $path }}
{{- end }}
""",
        files={
            "services/api/Dockerfile": "FROM alpine\n",
            "services/auth/Dockerfile": "FROM alpine\n",
            "services/README.md": "docs\n",
        },
    ),
    Case(
        "werf_shell_with_dollar_and_brackets",
        """project: acme
configVersion: 1
---
image: app
from: alpine
shell:
  install:
  - echo "$HOME ${PATH} [[ env "X" ]]"
  - {{ printf "echo %q" "built by werf" }}
""",
    ),
    Case(
        "werf_values_file_driven",
        """{{- $v := .Files.Get ".werf/values.yaml" | fromYaml }}
project: {{ $v.project }}
configVersion: 1
{{- range $v.images }}
---
image: {{ . }}
from: {{ $v.base }}
{{- end }}
""",
        files={".werf/values.yaml": "project: acme\nbase: ubuntu:22.04\nimages: [one, two, three]\n"},
    ),
    Case(
        "werf_comment_docs_and_trim",
        """{{- /* The meta section. {{ not rendered }} */ -}}
project: acme
configVersion: 1
{{- /* images below */}}
---
image: x
""",
    ),
    Case(
        "werf_conditional_meta_keys",
        """project: acme
configVersion: 1
{{- if env "DISABLE_KUBE" }}
cleanup:
  disableKubernetesBasedPolicy: true
{{- else }}
cleanup:
  keepPolicies: []
{{- end }}
""",
        env={**DEFAULT_ENV, "DISABLE_KUBE": "1"},
    ),
]
