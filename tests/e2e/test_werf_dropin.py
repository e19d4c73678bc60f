"""A `werf cleanup` CI job with only the command name changed: the environment `werf ci-env gitlab`
writes plus the job's own `WERF_*` variables, werf's option names on the command line, run in the
project's checkout — against the real registry (with Basic auth, from the Docker config ci-env
logs in to). Its decisions and its outcome equal those of the same run written with stagesweep's
own names, on a twin repository holding the same history."""

from __future__ import annotations

import base64
import json

import pyarrow.parquet as pq
import pytest

from adapters.audit import read_run_metadata
from tests.e2e.repo_world import RepoWorld
from tests.e2e.world import ago

pytestmark = [pytest.mark.prefect, pytest.mark.registry, pytest.mark.usefixtures("prefect_api")]

#: `.Env` decides whether `worker` is an image of the project: a run that misses WERF_ENV
#: deletes worker's builds as images no longer in werf.yaml
WERF_YAML = """project: acme
configVersion: 1
cleanup:
  keepPolicies:
  - references:
      branch: /.*/
---
image: app
{{- if eq .Env "production" }}
---
image: worker
{{- end }}
"""


def _history(world: RepoWorld, address: str, commits: dict[str, str]) -> dict[str, str]:
    """Publish the same builds into `address`; tag → a name that is the same in both twins."""
    names: dict[str, str] = {}

    def name_stages(key: str, image) -> None:
        names[image.stage_id] = key  # the image's own stage; its ancestors by position
        for i, stage in enumerate(image.stages):
            names.setdefault(stage.stage_id, f"{key}.stage{i}")

    with world.publisher(address) as pub:
        for key, days in (("old", 10), ("new", 5), ("feature", 3), ("gone", 8)):
            image = pub.build("app", built_at=ago(days=days))
            name_stages(key, image)
            names[pub.publish(image, commits[key])] = f"meta-{key}"
            if key == "old":
                names[pub.custom_tag(image, "release-1")] = "custom-tag-meta-release-1"
            if key == "gone":
                names[pub.custom_tag(image, "gone-1")] = "custom-tag-meta-gone-1"
        worker = pub.build("worker", built_at=ago(days=5))
        name_stages("worker", worker)
        names[pub.publish(worker, commits["new"])] = "meta-worker"
        young = pub.build("app", built_at=ago(hours=1))
        name_stages("young", young)
    return names


def _decisions(audit, names: dict[str, str]) -> set[tuple]:
    return {
        (names.get(r.tag, r.tag), r.item_type, r.action, r.reason, r.outcome) for r in audit.itertuples() if r.item_type != "run"
    }


def _report(path, names: dict[str, str], repo: str) -> dict:
    """werf's cleanup report with each tag by its twin-independent name."""
    text = path.read_text().replace(repo, "REPO")
    for tag, name in sorted(names.items(), key=lambda item: -len(item[0])):
        text = text.replace(tag, name)
    report = json.loads(text)
    return {key: sorted(map(json.dumps, value), key=str) if isinstance(value, list) else value for key, value in report.items()}


def test_a_werf_cleanup_job_with_only_the_command_name_changed_decides_as_stagesweep_names_do(
    git_project, auth_registry, unique_repo, kube_server, kubeconfig_factory, tmp_path, monkeypatch
):
    docker_config = auth_registry.write_docker_config(tmp_path / "ci-docker-config")  # what ci-env's login writes
    werf_repo = f"{auth_registry.host}/{unique_repo}/werf-job"
    twin_repo = f"{auth_registry.host}/{unique_repo}/stagesweep-job"
    world = RepoWorld(
        git=git_project,
        address=werf_repo,
        options=auth_registry.options(docker_config=docker_config),
        audit_dir=tmp_path / "audit",
    )
    (git_project.work / "werf.yaml").write_text(WERF_YAML)
    git = world.git
    old, new = git.commits("main", [ago(days=10), ago(days=5)])
    commits = {"old": old, "new": new}
    commits["feature"] = git.commit("feature", ago(days=3), parents=[new])
    commits["gone"] = git.commit("gone", ago(days=8), parents=[old])
    git.push()
    git.delete_origin_branch("gone")
    werf_names = _history(world, werf_repo, commits)
    twin_names = _history(world, twin_repo, commits)

    # release-1 runs in production, in both twins
    kubeconfig = kubeconfig_factory(["prod"])
    kube_server.add("prod", "Deployment", "web", containers={"web": f"{werf_repo}:release-1", "twin": f"{twin_repo}:release-1"})

    # the job: `source $(werf ci-env gitlab --as-file)`, its variables, then `werf cleanup` renamed
    home = tmp_path / "runner-home"
    ci_env = {
        "HOME": str(home),
        "CI_REGISTRY_IMAGE": werf_repo,
        "CI_ENVIRONMENT_SLUG": "production",
        "DOCKER_CONFIG": docker_config,
        "WERF_DOCKER_CONFIG": docker_config,
        "WERF_REPO": werf_repo,
        "WERF_ENV": "production",
        "WERF_ADD_ANNOTATION_PROJECT_GIT": "project.werf.io/git=https://gitlab.example/acme/app",
        "WERF_ADD_ANNOTATION_CI_COMMIT": f"ci.werf.io/commit={new}",
        "WERF_LOG_COLOR_MODE": "on",
        "WERF_LOG_PROJECT_DIR": "1",
        "WERF_ENABLE_PROCESS_EXTERMINATOR": "1",
        "WERF_LOG_TERMINAL_WIDTH": "130",
        # the job's own variables
        "WERF_REPO_CONTAINER_REGISTRY": "default",
        "WERF_INSECURE_REGISTRY": "1",
        "WERF_KUBE_CONFIG_BASE64": base64.b64encode(kubeconfig.read_bytes()).decode(),
        "WERF_SCAN_CONTEXT_NAMESPACE_ONLY": "true",
        "WERF_KEEP_STAGES_BUILT_WITHIN_LAST_N_HOURS": "2",
    }
    monkeypatch.chdir(git_project.work)
    werf_job = world.cli(
        "cleanup",
        "--scan-context-only",
        "prod",
        "--parallel=true",
        "--parallel-tasks-limit",
        "5",
        "--save-cleanup-report",
        "--cleanup-report-path",
        "cleanup-report",
        "--synchronization",
        ":local",
        "--log-quiet=false",
        env=ci_env,
    )
    assert werf_job.exit_code == 0, werf_job.output
    assert "note: --synchronization ignored" in werf_job.output
    werf_audit_file = sorted((home / ".stagesweep" / "audit").rglob("*.parquet"))[-1]

    twin_report = tmp_path / "twin-report.json"
    twin_kubeconfig = tmp_path / "twin-kubeconfig"
    twin_kubeconfig.write_bytes(kubeconfig.read_bytes())
    twin = world.cli(
        "cleanup",
        "--repo",
        twin_repo,
        "--dir",
        str(git_project.work),
        "--audit-dir",
        str(tmp_path / "twin-audit"),
        "--env",
        "production",
        "--docker-config",
        docker_config,
        "--repo-implementation",
        "default",
        "--insecure-registry",
        "--kube-config",
        str(twin_kubeconfig),
        "--kube-context",
        "prod",
        "--scan-context-namespace-only",
        "--keep-stages-built-within-last-n-hours",
        "2",
        "--parallel-tasks-limit",
        "5",
        "--save-cleanup-report",
        str(twin_report),
    )
    assert twin.exit_code == 0, twin.output

    werf_audit = pq.read_table(werf_audit_file).to_pandas()
    twin_audit = pq.read_table(sorted((tmp_path / "twin-audit").rglob("*.parquet"))[-1]).to_pandas()
    decided = _decisions(werf_audit, werf_names)
    assert decided == _decisions(twin_audit, twin_names)
    # what the comparison covers: git, Kubernetes, the grace window, .Env and deletes that happened
    by_name = {d[0]: d for d in decided}
    assert by_name["new"][2:4] == ("keep", "git-policy")
    assert by_name["old"][2:4] == ("keep", "used-in-kubernetes")
    assert by_name["young"][2:4] == ("keep", "built-within-last-n-hours")
    assert by_name["meta-worker"][2] == "keep"  # `worker` is an image in production
    assert by_name["gone"][2:] == ("delete", "unused-stage", "deleted")
    assert by_name["gone-1"][2] == "delete"
    # the same tags stay in both twins, and werf's report says the same
    assert {werf_names.get(t, t) for t in world.tags(werf_repo)} == {twin_names.get(t, t) for t in world.tags(twin_repo)}
    assert _report(git_project.work / "cleanup-report.json", werf_names, werf_repo) == _report(twin_report, twin_names, twin_repo)

    # the audit says where each option came from
    sources = read_run_metadata(werf_audit_file)["option_sources"]
    assert sources["repo"] == "WERF_REPO" and sources["env"] == "WERF_ENV"
    assert sources["kube_config_base64"] == "WERF_KUBE_CONFIG_BASE64"
    assert sources["kube_context"] == "command line (--scan-context-only)"
    assert sources["repo_implementation"] == "WERF_REPO_CONTAINER_REGISTRY"
    assert sources["--synchronization"] == "command line, ignored"
    assert read_run_metadata(sorted((tmp_path / "twin-audit").rglob("*.parquet"))[-1])["option_sources"]["repo"] == (
        "command line"
    )
