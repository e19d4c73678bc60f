"""`stagesweep serve` builds its deployments from deployments/prefect.yaml (no server needed),
and the deployments README keeps up with that file."""

from __future__ import annotations

import re
import subprocess
import textwrap

import pytest
import yaml

from cli.serve import DEFAULT_PREFECT_FILE, build_deployments, load_deployment_specs
from schemas.errors import ConfigError
from tests.deploy.server import BIN, PROJECT_ROOT
from tests.fixtures.registry import free_port

ENV = {
    "STAGESWEEP_IMAGES_REPO": "registry.example:5000/acme/images",
    "STAGESWEEP_STAGES_STORAGE": "registry.example:5000/acme/stages",
    "STAGESWEEP_DIR": "/srv/acme",
    "STAGESWEEP_AUDIT_DIR": "/var/lib/stagesweep/audit",
    "STAGESWEEP_FLEET_FILE": "/etc/stagesweep/fleet.yaml",
}


def yaml_variables() -> set[str]:
    """The environment variables the values of deployments/prefect.yaml read."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            list(map(walk, node.values()))
        elif isinstance(node, list):
            list(map(walk, node))
        elif isinstance(node, str):
            found.update(re.findall(r"{{\s*\$(\w+)\s*}}", node))

    walk(yaml.safe_load(DEFAULT_PREFECT_FILE.read_text()))
    return found


def test_serve_builds_the_yaml_deployments_with_only_the_nightly_cleanup_scheduled():
    deployments = {d.name: d for d in build_deployments(load_deployment_specs(environ=ENV))}
    assert set(deployments) == {"nightly-cleanup", "images-cleanup", "purge", "host-cleanup", "fleet-cleanup"}
    assert deployments["nightly-cleanup"].entrypoint == "flows.cleanup.cleanup"
    assert deployments["purge"].entrypoint == "flows.purge.purge"
    [nightly] = deployments["nightly-cleanup"].schedules
    assert nightly.schedule.cron == "0 3 * * *" and nightly.schedule.timezone == "UTC"
    assert all(not deployments[name].schedules for name in ("images-cleanup", "purge", "host-cleanup"))
    settings = deployments["nightly-cleanup"].parameters["settings"]
    assert settings["images_repo"] == ENV["STAGESWEEP_IMAGES_REPO"]
    assert settings["stages_storage"] == ENV["STAGESWEEP_STAGES_STORAGE"]
    assert settings["dir"] == ENV["STAGESWEEP_DIR"] and settings["audit_dir"] == ENV["STAGESWEEP_AUDIT_DIR"]
    assert deployments["host-cleanup"].parameters == {"settings": {"audit_dir": ENV["STAGESWEEP_AUDIT_DIR"], "dry_run": False}}
    assert all(d.concurrency_limit == 1 for d in deployments.values())
    [fleet_nightly] = deployments["fleet-cleanup"].schedules
    assert fleet_nightly.schedule.cron == "0 3 * * *"
    assert deployments["fleet-cleanup"].entrypoint == "flows.fleet.fleet_cleanup"
    assert deployments["fleet-cleanup"].parameters["settings"]["fleet_file"] == ENV["STAGESWEEP_FLEET_FILE"]


def test_serve_refuses_to_start_naming_every_unset_variable_the_yaml_reads():
    env = {k: v for k, v in ENV.items() if k not in ("STAGESWEEP_DIR", "STAGESWEEP_AUDIT_DIR")}
    with pytest.raises(ConfigError) as info:
        load_deployment_specs(environ=env)
    message = str(info.value)
    assert "STAGESWEEP_DIR" in message and "STAGESWEEP_AUDIT_DIR" in message
    assert "STAGESWEEP_IMAGES_REPO" not in message
    assert str(DEFAULT_PREFECT_FILE) in message and "settings.dir" in message


def write_prefect_file(tmp_path, settings: str, entrypoint: str = "flows/purge.py:purge"):
    path = tmp_path / "prefect.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            deployments:
            - name: adhoc
              entrypoint: {entrypoint}
              parameters:
                settings: {settings}
            """
        )
    )
    return path


def test_serve_refuses_parameters_the_flow_settings_model_rejects(tmp_path):
    path = write_prefect_file(tmp_path, "{stages_storage: oci:/tmp/s, no_such_option: 1}")
    with pytest.raises(ConfigError) as info:
        build_deployments(load_deployment_specs(path, environ={}))
    assert "'adhoc'" in str(info.value) and "no_such_option" in str(info.value)


def test_serve_refuses_placeholders_only_a_deploy_step_could_resolve(tmp_path):
    path = write_prefect_file(tmp_path, '{stages_storage: "{{ prefect.variables.stages }}"}')
    with pytest.raises(ConfigError, match=r"prefect\.variables\.stages"):
        load_deployment_specs(path, environ={})


def test_serve_refuses_an_entrypoint_that_names_no_flow(tmp_path):
    path = write_prefect_file(tmp_path, "{stages_storage: oci:/tmp/s}", entrypoint="flows/purge.py:nothing_here")
    with pytest.raises(ConfigError, match="no flow named 'nothing_here'"):
        build_deployments(load_deployment_specs(path, environ={}))


def test_serve_command_without_a_prefect_server_exits_1_and_says_how_to_start_one(tmp_path):
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "STAGESWEEP_PREFECT_SERVER": f"http://127.0.0.1:{free_port()}/api",
        **ENV,
    }
    result = subprocess.run(
        [str(BIN / "stagesweep"), "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "prefect server start --background" in result.stderr and "PREFECT_API_URL" in result.stderr


def test_deployments_readme_documents_every_variable_and_deployment_of_the_yaml():
    readme = (PROJECT_ROOT / "deployments" / "README.md").read_text()
    document = yaml.safe_load(DEFAULT_PREFECT_FILE.read_text())
    assert yaml_variables() == set(ENV)
    for variable in ENV:
        assert variable in readme, variable
    for deployment in document["deployments"]:
        assert deployment["name"] in readme, deployment["name"]
    for command in (
        "prefect deploy --all --prefect-file deployments/prefect.yaml",
        "prefect flow-run retry",
        "--only-failed",
        "stagesweep serve",
        "prefect worker start --pool stagesweep",
    ):
        assert command in readme, command
