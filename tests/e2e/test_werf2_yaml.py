"""werf.yaml as werf 2.x reads it, for a `--repo` project, through the CLI (an OCI layout
repository): a tab inside a plain scalar of a `.werf/` partial, an image name with upper-case
letters, `.Env` from `WERF_ENV` (`--env` wins), werf 2.x's `toYaml`, `env NAME DEFAULT`,
`required`, `.Files.Exists`/`.Files.IsDir` and `.Commit`; the same werf.yaml is still refused for
werf v1.1's storages, which cannot hold upper-case names."""

from __future__ import annotations

import pytest

from tests.e2e.repo_world import oci_repo_world
from tests.e2e.world import ago

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]

UPPER = "csi-external-attacher-ForK8SGE-1-20"

#: the worker image's name reads .Env (another image when it is not "production"); the images come
#: from a partial whose shell commands carry a tab inside a plain scalar, as in a large public
#: project, and from werf 2.x's functions
WERF_YAML = """\
project: acme
configVersion: 1
cleanup:
  keepPolicies:
  - references:
      branch: /.*/
---
{{ include "images.tmpl" . }}
---
image: worker{{ if ne .Env "production" }}-{{ .Env | default "none" }}{{ end }}
{{- if .Files.Exists "docker" }}
dockerfile: docker/Dockerfile
{{- end }}
shell:
  install:
  {{- toYaml (list (printf "echo %s" (required "a commit" .Commit.Hash)) (env "BUILD_FLAGS" "-O2")) | nindent 2 }}
"""

PARTIAL = f"""\
image: app
from: alpine
shell:
  install:
  - aclocal -I m4 &&\tautoconf
  - ./configure\t--prefix=/usr
---
image: {UPPER}
from: alpine
"""


def _project(world) -> None:
    work = world.git.work
    (work / "werf.yaml").write_text(WERF_YAML)
    (work / ".werf").mkdir(exist_ok=True)
    (work / ".werf" / "images.tmpl").write_text(PARTIAL)
    (work / "docker").mkdir(exist_ok=True)
    (work / "docker" / "Dockerfile").write_text("FROM alpine\n")


@pytest.fixture
def world(git_project, tmp_path):
    world = oci_repo_world(git_project, tmp_path)
    _project(world)
    git = world.git
    (tip,) = git.commits("main", [ago(days=2)])
    git.push()
    built = {}
    with world.publisher() as pub:
        for name in ("app", UPPER, "worker"):
            built[name] = pub.build(name, built_at=ago(days=2))
            built[f"meta-{name}"] = pub.publish(built[name], tip)
    world.built = built
    return world


def _kept(world, *names: str) -> set[str]:
    """The outcomes of the named images' meta records in the last run's audit."""
    audit = world.last_audit()
    return set(audit[audit.tag.isin([world.built[f"meta-{name}"] for name in names])].outcome)


def _dry_run(world, env: dict | None = None):
    result = world.run("cleanup", "--without-kube", "--dry-run", env=env)
    assert result.exit_code == 0, result.output
    return result


# --- the three werf.yaml cases of public projects, one at a time ---------------------------------


def test_a_tab_inside_a_plain_scalar_of_a_partial_is_read(world):
    work = world.git.work
    (work / ".werf" / "tab.tmpl").write_text("image: app\nshell:\n  install:\n  - aclocal -I m4 &&\tautoconf\n")
    (work / "werf.yaml").write_text('project: acme\nconfigVersion: 1\n---\n{{ include "tab.tmpl" . }}\n---\nimage: worker\n')
    _dry_run(world)
    assert _kept(world, "app", "worker") == {"kept"}


def test_an_image_name_with_upper_case_letters_is_read(world):
    (world.git.work / "werf.yaml").write_text(f"project: acme\nconfigVersion: 1\n---\nimage: app\n---\nimage: {UPPER}\n")
    _dry_run(world)
    assert _kept(world, "app", UPPER) == {"kept"}


def test_env_comes_from_werf_env(world):
    (world.git.work / "werf.yaml").write_text(
        'project: acme\nconfigVersion: 1\n---\nimage: app\n---\nimage: worker{{ if ne .Env "production" }}-{{ .Env }}{{ end }}\n'
    )
    _dry_run(world, env={"WERF_ENV": "production"})
    assert _kept(world, "app", "worker") == {"kept"}


def test_config_render_with_repo_reads_as_werf_2(world):
    (world.git.work / "werf.yaml").write_text(
        f'project: acme\nconfigVersion: 1\n---\nimage: {UPPER}-{{{{ .Env }}}}\nx: {{{{ toYaml (list "a\\tb") | nindent 2 }}}}\n'
    )
    args = ["config", "render", "--dir", str(world.git.work)]
    result = world.cli(*args, "--repo", world.address, env={"WERF_ENV": "production"})
    assert result.exit_code == 0, result.output
    assert f'image: {UPPER}-production\nx: \n  - "a\\tb"' in result.output
    refused = world.cli(*args, env={"WERF_ENV": "production"})
    assert refused.exit_code != 0 and "function 'toYaml' not defined" in refused.output


# --- werf 2.x's functions and data together ----------------------------------------------------


def test_a_repo_run_reads_werf_2_yaml_with_tabs_upper_case_names_and_werf_env(world):
    result = world.run("cleanup", "--without-kube", "--dry-run", env={"WERF_ENV": "production"})
    assert result.exit_code == 0, result.output
    audit = world.last_audit()
    metas = [world.built[f"meta-{name}"] for name in ("app", UPPER, "worker")]
    kept = audit[audit.tag.isin(metas)]
    assert set(kept.outcome) == {"kept"}, kept[["tag", "outcome", "reason"]]
    assert "nonexistent-image" not in set(kept.reason)
    assert world.built[UPPER].stage_id in world.tags()


def test_werf_env_gives_env_and_the_env_option_wins(world):
    # --env staging wins over WERF_ENV: the werf.yaml names worker-staging, so worker's record goes
    result = world.run("cleanup", "--without-kube", "--dry-run", "--env", "staging", env={"WERF_ENV": "production"})
    assert result.exit_code == 0, result.output
    audit = world.last_audit()
    worker = audit[audit.tag == world.built["meta-worker"]]
    assert set(worker.reason) == {"nonexistent-image"}
    app = audit[audit.tag == world.built["meta-app"]]
    assert set(app.outcome) == {"kept"}


def test_an_unset_variable_without_a_default_is_an_error_for_werf_2_unless_giterminism_is_loose(world):
    (world.git.work / "werf.yaml").write_text(WERF_YAML + 'docker:\n  ARG: {{ env "STAGESWEEP_TEST_UNSET" }}\n')
    refused = world.run("cleanup", "--without-kube", "--dry-run", env={"WERF_ENV": "production"})
    assert refused.exit_code != 0
    assert "STAGESWEEP_TEST_UNSET" in refused.output and "must be set or default must be provided" in refused.output
    loose = world.run("cleanup", "--without-kube", "--dry-run", env={"WERF_ENV": "production", "WERF_LOOSE_GITERMINISM": "1"})
    assert loose.exit_code == 0, loose.output


def _v1_1_run(world, tmp_path):
    return world.cli(
        "cleanup",
        "--without-kube",
        "--dry-run",
        "--env",
        "production",
        "--stages-storage",
        f"oci:{tmp_path / 'stages'}",
        "--images-repo",
        f"oci:{tmp_path / 'images'}",
        "--dir",
        str(world.git.work),
        "--audit-dir",
        str(world.audit_dir),
    )


def test_the_same_werf_yaml_is_refused_for_werf_v1_1_storages(world, tmp_path):
    result = _v1_1_run(world, tmp_path)
    assert result.exit_code != 0
    assert "function 'toYaml' not defined" in result.output
    # without werf 2.x's functions: the tab is read (werf v1.1 reads YAML with yaml.v2 too), the
    # upper-case image name is refused, as werf v1.1's storage cannot hold it
    (world.git.work / "werf.yaml").write_text('project: acme\nconfigVersion: 1\n---\n{{ include "images.tmpl" . }}\n')
    result = _v1_1_run(world, tmp_path)
    assert result.exit_code != 0
    assert f"invalid image name {UPPER!r}" in result.output
    assert "lower case for werf v1.1's storages" in result.output
