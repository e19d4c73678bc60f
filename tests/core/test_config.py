"""werf.yaml: project, image names, keep policies, and the errors users see (SPEC §2)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from gotemplate import TemplateError
from schemas.config import (
    KeepPolicy,
    Limit,
    Operator,
    default_keep_policies,
    load_werf_config,
    parse_keep_policies,
    parse_werf_config,
    render_werf_text,
)
from schemas.durations import format_go_duration, parse_go_duration
from schemas.errors import ConfigError, InvalidImageName
from schemas.vocab import RefKind


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "werf.yaml"
    path.write_text(text)
    return path


def test_reads_project_images_and_keep_policies(tmp_path: Path) -> None:
    config = load_werf_config(
        write(
            tmp_path,
            """
project: acme
configVersion: 1
cleanup:
  disableKubernetesBasedPolicy: true
  keepPolicies:
  - references: {branch: /^feature-.*/, limit: {last: 10, in: 168h, operator: And}}
    imagesPerReference: {last: 2, in: 168h, operator: Or}
  - references: {tag: v1.0}
gitWorktree:
  allowFetchOriginBranchesAndTags: false
---
image: backend
from: alpine
---
image: ~
---
image: [worker, tools/cli]
---
artifact: builder
""",
        )
    )
    assert config.project == "acme"
    assert config.images == ("backend", "", "worker", "tools/cli")
    assert config.disable_kubernetes_based_policy is True
    assert config.allow_fetch_origin_branches_and_tags is False
    assert config.keep_policies_are_default is False
    first, second = config.keep_policies
    assert first.references.kind is RefKind.BRANCH
    assert first.references.limit == Limit(last=10, in_=timedelta(hours=168), operator=Operator.AND)
    assert first.images_per_reference == Limit(last=2, in_=timedelta(days=7), operator=Operator.OR)
    assert second.references.kind is RefKind.TAG and second.images_per_reference is None


def test_defaults_when_cleanup_section_is_absent(tmp_path: Path) -> None:
    config = load_werf_config(write(tmp_path, "project: acme\nconfigVersion: 1\n"))
    assert config.keep_policies == tuple(default_keep_policies())
    assert config.keep_policies_are_default is True
    assert config.allow_fetch_origin_branches_and_tags is True
    assert config.disable_kubernetes_based_policy is False
    assert config.images == ()


def test_empty_keep_policies_give_the_default_set() -> None:
    assert parse_keep_policies([]) == default_keep_policies()
    assert parse_keep_policies(None) == default_keep_policies()


def test_default_set_is_werfs() -> None:
    tags, branches, main = default_keep_policies()
    assert tags.references.kind is RefKind.TAG and tags.references.limit == Limit(last=10)
    assert tags.images_per_reference is None
    assert branches.references.limit == Limit(last=10, in_=timedelta(days=7), operator=Operator.AND)
    assert branches.images_per_reference == Limit(last=2, in_=timedelta(days=7), operator=Operator.AND)
    assert main.images_per_reference == Limit(last=10)
    assert [main.references.matches("branch", n) for n in ("main", "master", "staging", "production")] == [True] * 4
    assert not main.references.matches("branch", "main-old")


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("/^feature-.*/", "feature-x", True),
        ("/feature/", "my-feature-x", False),  # full match, not substring (werf ≥1.2.5)
        ("/.*feature.*/", "my-feature-x", True),
        ("main", "main", True),
        ("main", "maintenance", False),
        ("release.1", "releaseX1", False),  # literal names are not patterns
    ],
)
def test_reference_names_match_literally_or_by_whole_regex(pattern: str, name: str, matches: bool) -> None:
    (policy,) = parse_keep_policies([{"references": {"branch": pattern}}])
    assert policy.references.matches("branch", name) is matches
    assert policy.references.matches("tag", name) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("168h", timedelta(hours=168)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("90s", timedelta(seconds=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("10us", timedelta(microseconds=10)),
        ("10µs", timedelta(microseconds=10)),
        ("2000ns", timedelta(microseconds=2)),
        ("0", timedelta(0)),
        ("1h0m0s", timedelta(hours=1)),
    ],
)
def test_parses_go_durations(text: str, expected: timedelta) -> None:
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7d", "h", "1 h", "1h-30m", "-1h", "1.h.5", "12"])
def test_refuses_what_go_cannot_parse(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_go_duration(text)


def test_formats_durations_like_werf_yaml() -> None:
    assert [format_go_duration(timedelta(hours=h)) for h in (168, 1.5)] == ["168h", "1h30m"]
    assert format_go_duration(timedelta(seconds=90)) == "1m30s"


@pytest.mark.parametrize(
    ("policy", "path", "message"),
    [
        ({"references": {"branch": "/[/"}}, "references.branch", "invalid regular expression"),
        ({"references": {"branch": "main", "tag": "v1"}}, "references", "both branch and tag"),
        ({"references": {"limit": {"last": 1}}}, "references", "neither branch nor tag"),
        ({"references": {"branch": "x", "limit": {"operator": "Xor"}}}, "references.limit.operator", "And, Or"),
        ({"references": {"branch": "x"}, "imagesPerReference": {"in": "7d"}}, "imagesPerReference.in", "invalid"),
        ({"references": {"branch": "x"}, "imagesPerReference": {"in": 12}}, "imagesPerReference.in", "Go duration"),
        ({"references": {"branch": "x"}, "imagesPerReference": {"last": "2"}}, "imagesPerReference.last", "integer"),
        ({"references": {"branch": "x"}, "imagesPerReference": {"last": -2}}, "imagesPerReference.last", "-1"),
        ({"refrences": {"branch": "x"}}, "refrences", "unknown key"),
        ({}, "references", "missing"),
    ],
)
def test_keep_policy_errors_name_file_document_and_key(policy: dict, path: str, message: str, tmp_path: Path) -> None:
    meta = {"project": "acme", "cleanup": {"keepPolicies": [{"references": {"tag": "/.*/"}}, policy]}}
    file = write(tmp_path, "image: app\n---\n" + yaml.safe_dump(meta, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        load_werf_config(file)
    text = str(caught.value)
    assert text.startswith(f"{file}, document 2, key cleanup.keepPolicies[1].{path}:"), text
    assert message in text


def test_templated_config_is_rendered_before_it_is_read(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        """project: {{ env "PROJECT" "fallback" }}
configVersion: 1
cleanup:
  keepPolicies:
  - references:
      branch: /.*/
      limit:
        last: {{ if eq (env "WERF_ENV") "production" }}20{{ else }}5{{ end }}
{{- range list "api" "worker" }}
---
image: {{ . }}
{{- end }}
""",
    )
    config = load_werf_config(file, {"PROJECT": "acme", "WERF_ENV": "production"})
    assert config.project == "acme"
    assert config.images == ("api", "worker")
    assert config.keep_policies[0].references.limit == Limit(last=20)
    assert load_werf_config(file).project == "fallback"  # no environment given: an empty one


def test_plain_yaml_renders_to_identical_bytes() -> None:
    text = "project: acme # a $VAR and [[ env ]] stay\nconfigVersion: 1\n---\nimage: x\n"
    rendered = render_werf_text(text, environ={"VAR": "no"})
    assert rendered.text == text and rendered.templated is False and rendered.env_names == ()


def test_whole_file_is_rendered_before_splitting_documents() -> None:
    config = parse_werf_config('{{ $base := "b" }}project: acme\nconfigVersion: 1\n---\nimage: a\n---\nimage: {{ $base }}\n')
    assert config.images == ("a", "b")


def test_rendering_reports_the_environment_variables_read_and_is_deterministic() -> None:
    text = 'project: {{ env "B_NAME" }}{{ env "A_NAME" "x" }}\nconfigVersion: 1\n'
    first = render_werf_text(text, environ={"B_NAME": "acme"})
    assert first.text == "project: acmex\nconfigVersion: 1\n"
    assert first.env_names == ("A_NAME", "B_NAME")
    assert render_werf_text(text, environ={"B_NAME": "acme"}).text == first.text


def test_template_error_names_file_line_column_and_function(tmp_path: Path) -> None:
    file = write(tmp_path, "project: acme\nconfigVersion: 1\nx: {{ upper 3 }}\n")
    with pytest.raises(TemplateError) as caught:
        load_werf_config(file)
    error = caught.value
    assert (error.file, error.line, error.column, error.function) == (str(file), 3, 13, "upper")
    assert str(error).startswith(f"{file}: line 3, column 13: upper: ")


def test_unsupported_function_is_refused_naming_it(tmp_path: Path) -> None:
    file = write(tmp_path, 'project: acme\n\nx: {{ now | date "2006" }}\n')
    with pytest.raises(TemplateError, match="line 3, column 7: now: function 'now' is not supported"):
        load_werf_config(file)


def test_missing_key_in_an_image_name_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path, "project: acme\n---\nimage: {{ .Values.name }}\n")
    with pytest.raises(ConfigError, match="document 2, key image: image name '<no value>'"):
        load_werf_config(file)


def test_files_need_a_project_directory() -> None:
    with pytest.raises(TemplateError, match="Files.Get: cannot read 'x.txt': no project directory"):
        parse_werf_config('project: acme\nx: {{ .Files.Get "x.txt" }}\n')


def test_yaml_error_in_rendered_config_names_the_source_line() -> None:
    text = "project: acme\n{{ range list 1 2 }}\n{{ end }}x: : bad\n"
    with pytest.raises(ConfigError, match=r"werf.yaml, document 1: invalid YAML at line 3 \(rendered line 4\)"):
        parse_werf_config(text)


def test_unknown_meta_key_is_refused_with_file_document_and_key(tmp_path: Path) -> None:
    file = write(tmp_path, "image: app\n---\nproject: acme\nconfigVersion: 1\ncleanupp:\n  keepPolicies: []\n")
    with pytest.raises(ConfigError) as caught:
        load_werf_config(file)
    text = str(caught.value)
    assert text.startswith(f"{file}, document 2, key cleanupp: unknown key at line 5 (did you mean cleanup?);"), text
    assert "configVersion, project, deploy, cleanup, gitWorktree, build" in text


def test_cleanup_in_a_document_of_its_own_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path, "project: acme\nconfigVersion: 1\n---\ncleanup:\n  keepPolicies: []\n")
    with pytest.raises(ConfigError) as caught:
        load_werf_config(file)
    text = str(caught.value)
    assert text.startswith(f"{file}, document 2, key cleanup: unknown section at line 4"), text
    assert "meta section" in text


@pytest.mark.parametrize(
    ("section", "key"),
    [("cleanup", "keepPolicy"), ("gitWorktree", "allowFetch"), ("deploy", "helmRelase")],
)
def test_unknown_key_in_a_meta_subsection_is_refused(tmp_path: Path, section: str, key: str) -> None:
    file = write(tmp_path, f"project: acme\nconfigVersion: 1\n{section}:\n  {key}: 1\n")
    with pytest.raises(ConfigError, match=f"document 1, key {section}.{key}: unknown key in the {section} section"):
        load_werf_config(file)


def test_image_and_artifact_keys_cleanup_does_not_use_are_accepted(tmp_path: Path) -> None:
    config = load_werf_config(
        write(
            tmp_path,
            """project: acme
configVersion: 1
deploy:
  helmRelease: x
---
artifact: builder
from: golang
git: [{add: /, to: /src}]
---
image: app
fromImage: base
shell: {install: [make]}
someFutureKey: 1
---
image: web
dockerfile: Dockerfile
""",
        )
    )
    assert config.images == ("app", "web")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("project: acme\nproject: other\n", "invalid YAML at line 2: key 'project' is given twice (first at line 1)"),
        ("project: acme\n---\nproject: again\n", "document 2: a second meta section (first in document 1)"),
        ("project: acme\nconfigVersion: 2\n", "key configVersion: got 2; expected configVersion: 1"),
        ("project: acme\n---\nimage: app\nfrom: a\nfrom: b\n", "document 2: invalid YAML at line 5: key 'from'"),
    ],
)
def test_werf_strictness_is_kept(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_werf_config(write(tmp_path, text))
    assert message in str(caught.value)


def test_upper_case_image_name_is_an_invalid_image_name(tmp_path: Path) -> None:
    file = write(tmp_path, "project: acme\n---\nimage: [api, Backend]\n")
    with pytest.raises(InvalidImageName, match="'Backend'.*lower case") as caught:
        load_werf_config(file)
    assert "document 2, key image[1]" in str(caught.value)


def test_image_declared_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="declared twice"):
        load_werf_config(write(tmp_path, "project: acme\n---\nimage: api\n---\nimage: api\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image: app\n", "no document with `project:`"),
        ("project: acme\n---\n- a list\n", "document 2: expected a mapping"),
        ("project: [a]\n", "key project: expected the project name"),
        ("project: acme\ncleanup:\n  keepPolicies: {branch: x}\n", "key cleanup.keepPolicies"),
        ("project: acme\ncleanup:\n  disableKubernetesBasedPolicy: maybe\n", "cleanup.disableKubernetesBasedPolicy"),
        ("project: acme\n  bad: indent\n", "invalid YAML at line 2"),
        ("project: acme\n---\nimage: 42\n", "expected an image name"),
    ],
)
def test_file_level_errors_are_clear(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + str(tmp_path)) as caught:
        load_werf_config(write(tmp_path, text))
    assert message in str(caught.value)


def test_missing_config_file_names_it_and_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as caught:
        load_werf_config(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(caught.value)
    assert "--config" in str(caught.value)


def test_operator_only_matters_when_both_sides_are_given() -> None:
    assert Limit(last=1, operator=Operator.OR).effective_operator is Operator.AND
    assert Limit(in_=timedelta(hours=1), operator=Operator.OR).effective_operator is Operator.AND
    assert Limit(last=1, in_=timedelta(hours=1), operator=Operator.OR).effective_operator is Operator.OR
    assert Limit(last=-1).count is None and Limit().count is None and Limit(last=0).count == 0


def test_policies_describe_themselves_for_logs() -> None:
    policy = KeepPolicy.model_validate(
        {
            "references": {"branch": "/.*/", "limit": {"last": 10, "in": "168h"}},
            "imagesPerReference": {"last": 2, "in": "1h30m", "operator": "Or"},
        }
    )
    assert policy.describe() == "branch /.*/ (limit last 10 And in 168h), imagesPerReference last 2 Or in 1h30m"


NEWER_WERF_META = """project: acme
configVersion: 1
build:
  platform: [linux/amd64]
  imageSpec:
    author: me
    config:
      labels: {a: b}
deploy:
  helmChartDir: .helm
  helmChartConfig:
    appVersion: "1.0"
gitWorktree:
  forceShallowClone: true
  allowFetchOriginBranchesAndTags: false
cleanup:
  keepImagesBuiltWithinLastNHours: 6
  disableGitHistoryBasedPolicy: true
  disableBuiltWithinLastNHoursPolicy: false
  disableKubernetesBasedPolicy: true
---
image: app
from: alpine
"""


def test_keys_of_werf_v1_2_and_2_are_accepted_and_listed_once_as_ignored_by_cleanup(tmp_path: Path) -> None:
    config = load_werf_config(write(tmp_path, NEWER_WERF_META))
    assert config.ignored_keys == ("build", "deploy", "gitWorktree.forceShallowClone")
    assert config.allow_fetch_origin_branches_and_tags is False


def test_cleanup_keys_of_werf_v1_2_and_2_are_read(tmp_path: Path) -> None:
    config = load_werf_config(write(tmp_path, NEWER_WERF_META))
    assert config.keep_images_built_within_last_n_hours == 6
    assert config.disable_git_history_based_policy and config.disable_kubernetes_based_policy
    assert not config.disable_built_within_last_n_hours_policy and not config.cleanup_disabled
    plain = load_werf_config(write(tmp_path, "project: acme\nconfigVersion: 1\n"))
    assert plain.keep_images_built_within_last_n_hours is None and not plain.disable_git_history_based_policy
    assert plain.ignored_keys == ()


@pytest.mark.parametrize(
    ("section", "typo", "guess"),
    [
        (
            "cleanup:\n  keepImagesBuildWithinLastNHours: 2",
            "cleanup.keepImagesBuildWithinLastNHours",
            "keepImagesBuiltWithinLastNHours",
        ),
        ("cleanup:\n  disableGitHistoryPolicy: true", "cleanup.disableGitHistoryPolicy", "disableGitHistoryBasedPolicy"),
        ("buid:\n  platform: [x]", "buid", "build"),
        ("build:\n  platfrom: [x]", "build.platfrom", "platform"),
        ("build:\n  imageSpec:\n    config:\n      lables: {}", "build.imageSpec.config.lables", "labels"),
        ("gitWorkTree:\n  allowUnshallow: true", "gitWorkTree", "gitWorktree"),
    ],
)
def test_unknown_key_is_refused_with_document_key_and_the_nearest_valid_spelling(
    tmp_path: Path, section: str, typo: str, guess: str
) -> None:
    file = write(tmp_path, f"project: acme\nconfigVersion: 1\n{section}\n")
    with pytest.raises(ConfigError) as caught:
        load_werf_config(file)
    text = str(caught.value)
    assert text.startswith(f"{file}, document 1, key {typo}: unknown key"), text
    assert f"(did you mean {guess}?)" in text


def test_unknown_key_without_a_near_spelling_lists_what_the_section_accepts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean") as caught:
        load_werf_config(write(tmp_path, "project: acme\nconfigVersion: 1\ncleanup:\n  keepPolicy: []\n"))
    assert "keepPolicies" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_werf_config(write(tmp_path, "project: acme\nconfigVersion: 1\ngitWorktree:\n  xyz: 1\n"))
    assert "did you mean" not in str(caught.value)
    assert "accepts allowFetchOriginBranchesAndTags, allowUnshallow, forceShallowClone" in str(caught.value)


def test_misspelt_keep_policy_key_suggests_the_valid_one(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        "project: acme\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references: {branch: main}\n    imagesPerRefrence: {last: 1}\n",
    )
    with pytest.raises(
        ConfigError, match=r"keepPolicies\[0\]\.imagesPerRefrence: unknown key \(did you mean imagesPerReference\?\)"
    ):
        load_werf_config(file)


def test_werf_v1_1_experimental_cleanup_policies_are_refused_with_what_to_write(tmp_path: Path) -> None:
    file = write(tmp_path, "project: acme\nconfigVersion: 1\ncleanup:\n  policies:\n  - branch: /.*/\n")
    with pytest.raises(ConfigError, match=r"key cleanup\.policies: not supported: .*write them as cleanup\.keepPolicies"):
        load_werf_config(file)
