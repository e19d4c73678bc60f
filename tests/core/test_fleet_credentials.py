"""A fleet file never holds a credential's value: whatever key or form it takes, the file is refused
with where the credential goes instead, and the value is never quoted. Secret blocks are named
instead, and a name that is not a block's name is refused the same way."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from schemas.errors import ConfigError, UsageError
from schemas.fleet import parse_fleet
from schemas.settings import CleanupSettings

KUBECONFIG = yaml.safe_dump(
    {
        "apiVersion": "v1",
        "clusters": [{"name": "c", "cluster": {"server": "https://k.example.com"}}],
        "users": [{"name": "u", "user": {"token": "kube-secret-token-1234"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
)
DOCKER_CONFIG = json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(b"bot:ghp_secretsecretsecretsecret12").decode()}}})
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretkeymaterial\n-----END RSA PRIVATE KEY-----\n"


def fleet_text(defaults: dict | None = None, project: dict | None = None, registries: dict | None = None) -> str:
    entry = {
        "name": "acme",
        "git": "https://git.example.com/acme.git",
        "images_repo": "registry.example.com/acme/app",
        "stages_storage": "registry.example.com/acme/stages",
        **(project or {}),
    }
    data = {"defaults": defaults or {"without_kube": True}, "projects": [entry]}
    if registries is not None:
        data["registries"] = registries
    return yaml.safe_dump(data)


REFUSED = {
    "a password under a key": (fleet_text(project={"password": "hunter2-hunter2"}), "projects[acme].password", "registry_secret"),
    "a token in the defaults": (
        fleet_text(defaults={"token": "glpat-abcdefghijklmnopqrst"}),
        "defaults.token",
        "registry_secret",
    ),
    "docker auths": (
        fleet_text(defaults={"auths": {"ghcr.io": {"auth": "Ym90OnRva2Vu"}}}),
        "defaults.auths",
        "docker_config_secret",
    ),
    "a kubeconfig pasted as a path": (
        fleet_text(project={"kube_config": KUBECONFIG}),
        "projects[acme].kube_config",
        "kube_config_secret",
    ),
    "a kubeconfig in base64": (
        fleet_text(project={"kube_config": base64.b64encode(KUBECONFIG.encode()).decode()}),
        "projects[acme].kube_config",
        "kube_config_secret",
    ),
    "a docker config as a value": (
        fleet_text(project={"docker_config": DOCKER_CONFIG}),
        "projects[acme].docker_config",
        "registry_secret",
    ),
    "a kubeconfig as a mapping": (
        fleet_text(project={"kube_config": yaml.safe_load(KUBECONFIG)}),
        "projects[acme].kube_config",
        "kube_config_secret",
    ),
    "a private key": (fleet_text(project={"registry_ca_file": PEM}), "projects[acme].registry_ca_file", "files"),
    "a git URL with a password": (
        fleet_text(project={"git": "https://bot:glpat-abcdefghijklmnopqrst@git.example.com/acme.git"}),
        "projects[acme].git",
        "helpers",
    ),
    "a token under a registry's limits": (
        fleet_text(registries={"ghcr.io": {"max_concurrent_requests": 2, "token": "ghp_abcdefghijklmnopqrstuvwxyz"}}),
        "registries.ghcr.io.token",
        "registry_secret",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_fleet_file_holding_a_credential_in_any_form_is_refused_saying_where_it_goes_without_quoting_it(case):
    text, path, where = REFUSED[case]
    with pytest.raises(ConfigError) as refused:
        parse_fleet(text, file="fleet.yaml")
    error = refused.value
    assert error.path == path
    assert "credential" in error.message and "nothing was run" in error.hint
    assert where in error.hint
    for secret in ("hunter2", "glpat-", "kube-secret-token", "Ym90OnRva2Vu", "ghp_", "secretkeymaterial", "LS0t", "YXBp"):
        assert secret not in str(error)


def test_a_fleet_file_names_secret_blocks_and_every_project_gets_the_names():
    text = fleet_text(
        defaults={"kube_config_secret": "fleet-kubeconfig", "registry_secret": ["Registry.Example.com=acme-registry"]},
        project={"docker_config_secret": "acme-docker"},
    )
    project = parse_fleet(text, file="fleet.yaml").project("acme")
    assert project.settings.kube_config_secret == "fleet-kubeconfig"
    assert project.settings.registry_secret == ["registry.example.com=acme-registry"]
    assert project.settings.docker_config_secret == "acme-docker"
    assert project.settings.model_dump(mode="json")["registry_secret"] == ["registry.example.com=acme-registry"]


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"kube_config_secret": "Not A Block"}, "projects[acme]"),
        ({"registry_secret": ["ghcr.io"]}, "projects[acme]"),
        ({"registry_secret": ["ghcr.io=a", "ghcr.io=b"]}, "projects[acme]"),
    ],
)
def test_a_secret_setting_that_is_not_a_block_name_is_refused_naming_the_setting(values, path):
    with pytest.raises(ConfigError) as refused:
        parse_fleet(fleet_text(project=values), file="fleet.yaml")
    assert refused.value.path == path
    assert next(iter(values)) in refused.value.message


def test_a_credential_given_where_a_block_name_goes_is_a_usage_error_that_does_not_quote_it():
    with pytest.raises(UsageError) as refused:
        CleanupSettings(stages_storage="x/y", kube_config_secret=KUBECONFIG)
    assert refused.value.exit_code == 2
    assert "--kube-config-secret" in str(refused.value) and "kube-secret-token" not in str(refused.value)
    with pytest.raises(UsageError) as refused:
        CleanupSettings(stages_storage="x/y", registry_secret=["ghcr.io=" + "bot:ghp_abcdefghijklmnopqrstuvwxyz"])
    assert "ghp_" not in str(refused.value)


@pytest.mark.parametrize("path", [("cleanup",), ("purge",), ("stages", "purge"), ("apply",), ("managed-images", "rm")])
def test_every_registry_command_names_its_secret_blocks_by_option_and_environment_variable(path):
    import typer

    from cli.app import app

    command = typer.main.get_command(app)
    for word in path:
        command = command.commands[word]
    options = {opt: p for p in command.params for opt in p.opts}
    wanted = {"--docker-config-secret", "--registry-secret"} | (
        {"--kube-config-secret"} if path in {("cleanup",), ("apply",)} else set()
    )
    for name in wanted:
        assert options[name].envvar == "STAGESWEEP_" + name[2:].upper().replace("-", "_"), name
    assert options["--registry-secret"].multiple
