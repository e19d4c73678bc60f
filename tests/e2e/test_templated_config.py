"""A templated werf.yaml (images from `range`, keep policies from a `.werf/` partial chosen by
`env`) plans exactly what the same file rendered beforehand plans."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]

TEMPLATE = """\
{{- $images := list "app" }}
project: {{ env "STAGESWEEP_TEST_PROJECT" }}
configVersion: 1
cleanup:
{{- include "policies" . | nindent 2 }}
{{- range $images }}
---
image: {{ . }}
{{- end }}
"""

PARTIAL = """\
{{- define "policies" -}}
keepPolicies:
{{- if eq (env "CLEANUP_PROFILE" "strict") "strict" }}
- references:
    branch: main
  imagesPerReference:
    last: 1
{{- else }}
- references:
    branch: /.*/
{{- end }}
{{- end }}
"""


def plan_of(world) -> list[tuple]:
    df = world.last_audit()
    return sorted(zip(df.storage, df.item_type, df.tag, df.action, df.reason, df.outcome))


def test_templated_werf_yaml_plans_what_the_prerendered_file_plans(git_project, registry, unique_repo, tmp_path, monkeypatch):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    basic_world(world)
    monkeypatch.setenv("STAGESWEEP_TEST_PROJECT", world.project)
    work = world.git.work
    (work / ".werf").mkdir()
    (work / ".werf" / "policies.tmpl").write_text(PARTIAL)
    (work / "werf.yaml").write_text(TEMPLATE)

    templated = world.cleanup("cleanup", "--dry-run", "--without-kube")
    assert templated.exit_code == 0, templated.output
    from_template = plan_of(world)
    from adapters.audit import read_run_metadata

    meta = read_run_metadata(world.audits()[-1])
    assert meta["werf_yaml_env"] == ["CLEANUP_PROFILE", "STAGESWEEP_TEST_PROJECT"]  # names, never values
    assert world.project not in str(meta)

    rendered = CliRunner().invoke(app, ["config", "render", "--dir", str(work)])
    assert rendered.exit_code == 0, rendered.output
    assert "{{" not in rendered.stdout and "branch: main" in rendered.stdout
    (work / "werf.yaml").write_text(rendered.stdout)
    plain = world.cleanup("cleanup", "--dry-run", "--without-kube")
    assert plain.exit_code == 0, plain.output

    assert from_template == plan_of(world)
    # the strict profile from the partial applied, not the default policies: one main image kept
    kept_by_policy = [row for row in from_template if row[4] == "git-policy" and row[1] == "image-tag"]
    assert kept_by_policy and all(row[3] == "keep" for row in kept_by_policy)
    assert any(row[4] == "not-reached-by-policy" for row in from_template)
