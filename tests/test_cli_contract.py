"""The CLI contract of SPEC §9: commands, options, environment variables, usage errors, and
that the README documents every command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.app import app

ROOT = Path(__file__).resolve().parent.parent

COMMON = {
    "--config",
    "--dir",
    "--dry-run",
    "--audit-dir",
    "--docker-config",
    "--insecure-registry",
    "--skip-tls-verify-registry",
    "--parallel-tasks-limit",
    "--max-deletions",
}
GIT = {"--git-history-synchronization", "--allow-git-shallow-clone"}
KUBE = {
    "--without-kube",
    "--kube-config",
    "--kube-config-base64",
    "--kube-context",
    "--scan-context-namespace-only",
    "--kube-scan-namespace",
}
REPOS = {"--images-repo", "--stages-storage", "--images-repo-mode"}
#: options whose environment variable is not STAGESWEEP_<OPTION>
ENVVAR_EXCEPTIONS = {"--webhook-url": "STAGESWEEP_ALERT_WEBHOOK_URL"}

CONTRACT = {
    ("cleanup",): COMMON | GIT | KUBE | REPOS | {"--keep-stages-built-within-last-n-hours"},
    ("images", "cleanup"): COMMON | GIT | KUBE | REPOS,
    ("stages", "cleanup"): COMMON | REPOS | {"--keep-stages-built-within-last-n-hours"},
    ("purge",): COMMON | REPOS | {"--force"},
    ("images", "purge"): COMMON | REPOS,
    ("stages", "purge"): COMMON | {"--stages-storage", "--force"},
    ("host", "cleanup"): {
        "--dry-run",
        "--home-dir",
        "--docker-host",
        "--allowed-docker-storage-volume-usage",
        "--allowed-docker-storage-volume-usage-margin",
        "--allowed-local-cache-volume-usage",
        "--allowed-local-cache-volume-usage-margin",
    },
    ("host", "purge"): {"--dry-run", "--force", "--home-dir", "--docker-host"},
    ("managed-images", "ls"): {"--stages-storage"},
    ("managed-images", "add"): {"--stages-storage"},
    ("managed-images", "rm"): {"--stages-storage"},
    ("apply",): COMMON | KUBE | {"--only-failed", "--images-repo-mode"},
    ("report",): {"--run"},
    ("demo",): set(),
    ("serve",): set(),
    ("fleet", "cleanup"): {"--dry-run", "--projects", "--work-pool", "--audit-dir"},
    ("config", "render"): {"--dir", "--config"},
    ("server", "status"): set(),
    ("server", "stop"): set(),
    ("server", "automations"): {"--webhook-url"},
}


def command(path: tuple[str, ...]):
    group = typer.main.get_command(app)
    for word in path:
        group = group.commands[word]
    return group


@pytest.mark.parametrize("path", sorted(CONTRACT), ids=" ".join)
def test_command_has_the_options_of_the_contract_each_with_its_environment_variable(path):
    cmd = command(path)
    options = {opt: p for p in cmd.params for opt in p.opts if opt.startswith("--")}
    assert CONTRACT[path] <= set(options)
    for name in CONTRACT[path]:
        expected = ENVVAR_EXCEPTIONS.get(name, "STAGESWEEP_" + name[2:].upper().replace("-", "_"))
        envvar = options[name].envvar
        # STAGESWEEP_* first: it wins over werf's variables that follow it
        assert (envvar if isinstance(envvar, str) else envvar[0]) == expected, name


@pytest.mark.parametrize("path", sorted(CONTRACT), ids=" ".join)
def test_help_works_for_every_command(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_readme_documents_every_command():
    readme = (ROOT / "README.md").read_text()
    for path in CONTRACT:
        assert f"stagesweep {' '.join(path)}" in readme or f"`{' '.join(path)}`" in readme, path


def test_unknown_option_is_a_usage_error_with_exit_code_2():
    result = CliRunner().invoke(app, ["cleanup", "--no-such-option"])
    assert result.exit_code == 2


def test_missing_required_option_is_a_usage_error_with_exit_code_2():
    result = CliRunner().invoke(app, ["cleanup", "--stages-storage", "oci:/tmp/x"])
    assert result.exit_code == 2
    assert "--images-repo" in result.output


def test_options_read_their_environment_variable_and_a_missing_config_stops_with_exit_1(tmp_path, prefect_api):
    # the images repo and the audit dir come from the environment; the missing werf.yaml stops the run
    result = CliRunner().invoke(
        app,
        ["images", "cleanup", "--stages-storage", f"oci:{tmp_path}/s", "--dir", str(tmp_path), "--without-kube"],
        env={"STAGESWEEP_IMAGES_REPO": f"oci:{tmp_path}/i", "STAGESWEEP_AUDIT_DIR": str(tmp_path / "audit")},
    )
    assert result.exit_code == 1, result.output
    assert "werf.yaml" in result.output
    assert len(list((tmp_path / "audit").rglob("*.parquet"))) == 1


def test_every_option_of_a_deleting_command_is_a_settings_field_with_its_help_and_default():
    from schemas.settings import CleanupSettings, HostSettings, PurgeSettings

    for path, model in (
        (("cleanup",), CleanupSettings),
        (("stages", "purge"), PurgeSettings),
        (("host", "cleanup"), HostSettings),
    ):
        cmd = command(path)
        for param in cmd.params:
            if not param.opts[0].startswith("--") or param.name.startswith("werf_"):
                continue  # werf's options without a field of their own: cli/werf_options.py
            field = model.model_fields[param.name]
            assert param.help == field.description, param.name
            if not param.required and not param.multiple:
                default = field.get_default(call_default_factory=True)
                assert param.default == getattr(default, "value", default), param.name


def test_a_settings_field_added_to_a_model_becomes_an_option():
    from pydantic import Field

    from cli.options import option_fields
    from schemas.settings import CleanupSettings

    class Extended(CleanupSettings):
        new_knob: int = Field(3, description="A new knob.")

    assert "new_knob" in option_fields(Extended)
    assert "new_knob" not in option_fields(CleanupSettings)


# werf v2's names and variables (cli/werf_options.py): a `werf cleanup` job runs with only the
# command name changed. The settings a command builds are caught before its flow runs.


@pytest.fixture
def settings_of(monkeypatch):
    caught = []
    monkeypatch.setattr("cli.app.run_command", lambda command, settings: caught.append(settings) or 0)

    def run(*args: str, env: dict | None = None):
        result = CliRunner().invoke(app, list(args), env=env)
        return result, (caught[-1] if caught else None)

    return run


def test_werf_option_names_are_aliases_of_stagesweep_options(settings_of):
    result, settings = settings_of(
        "cleanup",
        "--repo",
        "registry.example/app",
        "--repo-container-registry",
        "gitlab",
        "--scan-context-only",
        "prod",
        "--kube-scan-namespaces",
        "web",
        "--keep-stages-built-within-last-n-hours",
        "5",
    )
    assert result.exit_code == 0, result.output
    assert settings.repo_implementation.value == "gitlab"
    assert settings.kube_context == ["prod"] and settings.kube_scan_namespace == ["web"]
    assert settings.keep_stages_built_within_last_n_hours == 5
    assert settings.option_sources["repo_implementation"] == "command line (--repo-container-registry)"
    assert settings.option_sources["repo"] == "command line"


def test_werf_variables_are_fallbacks_and_stagesweep_variables_win(settings_of):
    env = {
        "WERF_REPO": "registry.example/werf",
        "WERF_ENV": "production",
        "WERF_DRY_RUN": "true",
        "WERF_REPO_CONTAINER_REGISTRY": "harbor",
        "WERF_SCAN_CONTEXT_NAMESPACE_ONLY": "1",
        "STAGESWEEP_REPO_IMPLEMENTATION": "quay",
    }
    result, settings = settings_of("cleanup", env=env)
    assert result.exit_code == 0, result.output
    assert settings.repo == "registry.example/werf" and settings.env == "production" and settings.dry_run
    assert settings.repo_implementation.value == "quay" and settings.scan_context_namespace_only
    sources = settings.option_sources
    assert sources["repo"] == "WERF_REPO" and sources["repo_implementation"] == "STAGESWEEP_REPO_IMPLEMENTATION"
    assert sources["audit_dir"] == "default"


def test_werf_boolean_syntax_and_its_cleanup_report(settings_of, tmp_path):
    report = tmp_path / "report"
    result, settings = settings_of(
        "cleanup",
        "--repo",
        "registry.example/app",
        "--dry-run=false",
        "--without-kube=true",
        "--parallel=false",
        "--save-cleanup-report",
        "--cleanup-report-path",
        str(report),
        env={"WERF_DRY_RUN": "true"},
    )
    assert result.exit_code == 0, result.output
    assert not settings.dry_run and settings.without_kube  # the command line wins over WERF_DRY_RUN
    assert settings.parallel_tasks_limit == 1
    assert settings.save_cleanup_report == f"{report}.json"
    # stagesweep's own form still names the file
    result, settings = settings_of("cleanup", "--repo", "r.example/a", "--save-cleanup-report", "out.json", "--dry-run")
    assert result.exit_code == 0, result.output
    assert settings.save_cleanup_report == "out.json" and settings.dry_run


def test_werf_options_that_change_nothing_are_noted_and_credentials_are_refused(settings_of):
    result, settings = settings_of(
        "cleanup",
        "--repo",
        "r.example/a",
        "--synchronization",
        ":local",
        "--secondary-repo",
        "r.example/b",
        "--log-color-mode=on",
    )
    assert result.exit_code == 0, result.output
    assert "note: --synchronization ignored" in result.output and "note: --secondary-repo ignored" in result.output
    assert settings.option_sources["--synchronization"] == "command line, ignored"
    result, _ = settings_of("cleanup", "--repo", "r.example/a", "--repo-docker-hub-password", "hunter2-value")
    assert result.exit_code == 2
    assert "--repo-docker-hub-password is not supported" in result.output and "Docker config" in result.output
    assert "hunter2-value" not in result.output
    result, _ = settings_of("cleanup", "--repo", "r.example/a", "--kube-token", "t")
    assert result.exit_code == 2 and "kubeconfig" in result.output
    result, _ = settings_of("cleanup", "--repo", "r.example/a", "--no-such-werf-option")
    assert result.exit_code == 2


def test_werf_kubeconfig_variable_reaches_a_run_that_has_only_its_environment(tmp_path):
    import base64

    from adapters.kube_access import KubeOptions, select_source

    kubeconfig = "apiVersion: v1\nkind: Config\ncontexts:\n- name: prod\n  context: {cluster: c, user: u}\n"
    encoded = base64.b64encode(kubeconfig.encode()).decode()
    # a deployment run or a retried run: the setting is never serialised, the variable is there
    source = select_source(KubeOptions(), environ={"WERF_KUBE_CONFIG_BASE64": encoded})
    assert list(source.namespaces) == ["prod"]
    # a kubeconfig named for the run wins over werf's variable
    path = tmp_path / "config"
    path.write_text(kubeconfig.replace("prod", "named"))
    source = select_source(KubeOptions(kube_config=str(path)), environ={"WERF_KUBE_CONFIG_BASE64": encoded})
    assert list(source.namespaces) == ["named"]


def test_a_kube_config_option_wins_over_werf_kubeconfig_variable(settings_of, tmp_path):
    result, settings = settings_of(
        "cleanup",
        "--repo",
        "r.example/a",
        "--kube-config",
        str(tmp_path / "config"),
        env={"WERF_KUBE_CONFIG_BASE64": "Zm9v"},
    )
    assert result.exit_code == 0, result.output
    assert settings.kube_config_base64 is None and "note: --kube-config is used" in result.output


def test_werf_limits_short_options_and_work_tree(settings_of, tmp_path):
    result, settings = settings_of("cleanup", "--repo", "r.example/a", "--parallel-tasks-limit", "-1", "-p=false", "-S=:local")
    assert result.exit_code == 0, result.output
    assert settings.parallel_tasks_limit == 256  # werf's "no limit": the most stagesweep allows
    result, settings = settings_of("cleanup", "--repo", "r.example/a", "-p", env={"WERF_PARALLEL_TASKS_LIMIT": "3"})
    assert result.exit_code == 0, result.output
    assert settings.parallel_tasks_limit == 3 and settings.option_sources["parallel_tasks_limit"] == "WERF_PARALLEL_TASKS_LIMIT"
    project = tmp_path / "tree" / "project"
    project.mkdir(parents=True)
    result, _ = settings_of("cleanup", "--repo", "r.example/a", "--dir", str(project), "--git-work-tree", str(tmp_path / "tree"))
    assert result.exit_code == 0, result.output
    result, _ = settings_of("cleanup", "--repo", "r.example/a", "--dir", str(tmp_path), "--git-work-tree", str(project))
    assert result.exit_code == 2 and "outside the git work tree" in result.output


def test_werf_purge_job_runs_with_only_the_command_name_changed(settings_of):
    env = {"WERF_REPO": "r.example/app", "WERF_DRY_RUN": "1", "WERF_REPO_CONTAINER_REGISTRY": "gitlab"}
    result, settings = settings_of("purge", "--synchronization", ":local", env=env)
    assert result.exit_code == 0, result.output
    assert settings.repo == "r.example/app" and settings.dry_run and settings.repo_implementation.value == "gitlab"


def test_werf_env_is_read_for_a_werf_2_repository_only_and_loose_giterminism_is_werfs(settings_of, tmp_path, monkeypatch):
    result, settings = settings_of("cleanup", "--repo", "r.example/a", env={"WERF_ENV": "production"})
    assert settings.env == "production"
    result, settings = settings_of(
        "cleanup", "--stages-storage", f"oci:{tmp_path}/s", "--images-repo", f"oci:{tmp_path}/i", env={"WERF_ENV": "production"}
    )
    assert result.exit_code == 0, result.output
    assert settings.env == "" and settings.option_sources["env"] == "WERF_ENV, not read for werf v1.1 storages"
    # the variable the werf.yaml reader reads, set for the run; CliRunner puts back what `env` names
    import os

    seen = []
    monkeypatch.setattr(
        "cli.app.run_command", lambda command, settings: seen.append(os.environ.get("WERF_LOOSE_GITERMINISM")) or 0
    )
    result = CliRunner().invoke(
        app, ["cleanup", "--repo", "r.example/a", "--loose-giterminism"], env={"WERF_LOOSE_GITERMINISM": ""}
    )
    assert result.exit_code == 0, result.output
    assert seen == ["1"]


def test_werf_config_variable_is_relative_to_the_working_directory_as_in_werf(settings_of, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result, settings = settings_of("cleanup", "--repo", "r.example/a", "--dir", "project", env={"WERF_CONFIG": "ci/werf.yaml"})
    assert result.exit_code == 0, result.output
    assert settings.config == str(tmp_path / "ci" / "werf.yaml")
    result, settings = settings_of("cleanup", "--repo", "r.example/a", "--dir", "project", "--config", "werf.yaml")
    assert settings.config == "werf.yaml"  # stagesweep's --config: relative to --dir
