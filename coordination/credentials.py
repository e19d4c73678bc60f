"""Credentials by reference: the Prefect `Secret` blocks a run's settings name, read inside the
run from the Prefect API and handed to the one adapter that needs each value.

* `kube_config_secret` → the kubeconfig, in memory, to the Kubernetes client (as the content
  `--kube-config-base64` would give; no file).
* `docker_config_secret` and `registry_secret` (`HOST=BLOCK`) → a Docker config in a private
  temporary directory (the directory 0700, `config.json` 0600) that the registry clients read as
  they read `--docker-config`: the block's config, else the one the run would read otherwise, with
  the credentials of each `registry_secret` host in its `auths`. It is written once per flow run
  and removed when the run's process ends, or, for a project run as a subflow of a fleet run, as
  soon as that subflow ends (`release`).

Only block *names* travel in Prefect parameters, fleet files and cache keys; no value is logged,
audited, published or returned, and no error quotes one. A block that is not there stops the run
before its first deletion with what is missing, on which API, and how to create it.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

import yaml

from schemas.credentials import json_mapping, registry_secret_entry
from schemas.errors import ConfigError
from schemas.settings import KubeSettings, RegistrySettings

#: the Prefect block type of every block a setting names
SECRET_BLOCK_TYPE = "secret"
#: the environment variable of the base64 kubeconfig (adapters/kube_access.py reads it too)
KUBE_CONFIG_BASE64_ENV = "STAGESWEEP_KUBE_CONFIG_BASE64"


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or "the ephemeral Prefect API of this process"


def _create_hint(name: str, field_name: str, shape: str) -> str:
    return (
        f"Create it on that server — `prefect block create secret`, or in Python "
        f"`Secret(value={shape}).save({name!r})` — or fix `{field_name}` (--{field_name.replace('_', '-')}); "
        "a deployment or a work pool's run reads the block from the Prefect server its worker talks to. "
        "Nothing was deleted."
    )


def read_secret(name: str, field_name: str, shape: str) -> Any:
    """The value of the Prefect Secret block `name` (a string or a JSON mapping), read from the
    Prefect API of this process. A missing block, or an API that cannot be asked, is a ConfigError
    naming the block, the setting that names it, the API, and what to do."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            document = client.read_block_document_by_name(name, block_type_slug=SECRET_BLOCK_TYPE, include_secrets=True)
    except ObjectNotFound:
        raise ConfigError(
            f"no Prefect Secret block named {name!r} on the Prefect API at {_api_url()}",
            path=field_name,
            hint=_create_hint(name, field_name, shape),
        ) from None
    except (httpx.HTTPError, OSError, RuntimeError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise ConfigError(
            f"could not read the Prefect Secret block {name!r} from the Prefect API at {_api_url()}"
            + (f" (HTTP {status})" if status else f" ({type(exc).__name__})"),
            path=field_name,
            hint="Check PREFECT_API_URL (and PREFECT_API_KEY) of the machine the run is on. Nothing was deleted.",
        ) from None
    value = (document.data or {}).get("value")
    if value in (None, "", {}):
        raise ConfigError(
            f"the Prefect Secret block {name!r} holds no value",
            path=field_name,
            hint=_create_hint(name, field_name, shape),
        )
    return value


def secret_blocks_named(settings: RegistrySettings | KubeSettings) -> dict[str, str]:
    """Block name → the setting that names it, for every Secret block `settings` names (the
    kubeconfig's only where Kubernetes is checked)."""
    named: dict[str, str] = {}
    if isinstance(settings, KubeSettings) and settings.kube_config_secret and not settings.without_kube:
        named[settings.kube_config_secret] = "kube_config_secret"
    if isinstance(settings, RegistrySettings):
        if settings.docker_config_secret:
            named[settings.docker_config_secret] = "docker_config_secret"
        for entry in settings.registry_secret:
            host, block = registry_secret_entry(entry)
            named.setdefault(block, f"registry_secret ({host})")
    return named


#: Secret blocks read in one request when checking which exist (the API's largest page)
BLOCKS_PAGE = 200


def missing_secret_blocks(names: set[str]) -> set[str]:
    """Those of `names` that are not Secret blocks on the Prefect API — asked without their
    values, a page of `BLOCKS_PAGE` blocks a request."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    if not names:
        return set()
    found: set[str] = set()
    with get_client(sync_client=True) as client:
        offset = 0
        while True:
            try:
                page = client.read_block_documents_by_type(
                    SECRET_BLOCK_TYPE, offset=offset, limit=BLOCKS_PAGE, include_secrets=False
                )
            except ObjectNotFound:  # a server without the Secret block type has no Secret block
                break
            found.update(document.name for document in page if document.name)
            if len(page) < BLOCKS_PAGE or names <= found:
                break
            offset += len(page)
    return names - found


def missing_block_message(name: str, field_name: str) -> str:
    """One paragraph: the block a project names that is not on the server, and what to do."""
    error = ConfigError(
        f"no Prefect Secret block named {name!r} on the Prefect API at {_api_url()}",
        path=field_name.split(" ")[0],
        hint=_create_hint(name, field_name.split(" ")[0], "..."),
    )
    return str(error).replace("\n", " ")


# ------------------------------------------------------------------------------ the kubeconfig

KUBECONFIG_SHAPE = "open('kubeconfig').read()"


def kube_config_base64(settings: KubeSettings) -> str | None:
    """The kubeconfig content (base64, as `--kube-config-base64` takes it) the run's Kubernetes
    client reads: the `kube_config_secret` block's, read now; else the settings' own."""
    name = settings.kube_config_secret
    if not name:
        return settings.kube_config_base64
    given = [
        option
        for option, value in (
            ("--kube-config", settings.kube_config),
            ("--kube-config-base64", settings.kube_config_base64),
            (KUBE_CONFIG_BASE64_ENV, os.environ.get(KUBE_CONFIG_BASE64_ENV)),
        )
        if value
    ]
    if given:
        raise ConfigError(
            f"--kube-config-secret and {' and '.join(given)} both name a kubeconfig",
            path="kube_config_secret",
            hint="Give one of them. Nothing was deleted.",
        )
    return _cached(("kube", name), lambda: _kubeconfig_of(name))


def _kubeconfig_of(name: str) -> str:
    value = read_secret(name, "kube_config_secret", KUBECONFIG_SHAPE)
    text: str | None = None
    if isinstance(value, dict):
        text = yaml.safe_dump(value, sort_keys=False)
    elif isinstance(value, str):
        document = _yaml_mapping(value)
        if document is not None and ("contexts" in document or "clusters" in document):
            text = value
        else:
            decoded = _base64_text(value)
            if decoded is not None and _yaml_mapping(decoded) is not None:
                text = decoded
    if text is None or not _is_kubeconfig(_yaml_mapping(text)):
        raise ConfigError(
            f"the Prefect Secret block {name!r} does not hold a kubeconfig (its content is not shown)",
            path="kube_config_secret",
            hint="Its value is the kubeconfig file's YAML (or that YAML base64-encoded), with its clusters, users "
            "and contexts. Nothing was deleted.",
        )
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _yaml_mapping(text: str) -> dict | None:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return document if isinstance(document, dict) else None


def _base64_text(text: str) -> str | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _is_kubeconfig(document: dict | None) -> bool:
    return isinstance(document, dict) and isinstance(document.get("contexts"), list)


# ------------------------------------------------------------------------- the Docker config

DOCKER_CONFIG_SHAPE = "open('config.json').read()"
REGISTRY_SHAPE = "{'username': USER, 'password': TOKEN}"


def docker_config_dir(settings: RegistrySettings) -> str | None:
    """The Docker config directory the run's registry clients read: `--docker-config` (None: the
    default places), or — when the settings name Secret blocks — this run's private directory
    holding the config built from them."""
    if not settings.docker_config_secret and not settings.registry_secret:
        return settings.docker_config
    if settings.docker_config_secret and settings.docker_config:
        raise ConfigError(
            "--docker-config-secret and --docker-config both name a Docker config",
            path="docker_config_secret",
            hint="Give one of them (--registry-secret adds a registry's credentials to either). Nothing was deleted.",
        )
    key = ("docker", settings.docker_config, settings.docker_config_secret, tuple(settings.registry_secret))
    return _cached(key, lambda: _write_docker_config(_docker_config_of(settings)))


def _docker_config_of(settings: RegistrySettings) -> dict:
    """The Docker config the run uses: the block's (or the one the run reads without one), with
    each `registry_secret` host's credentials in `auths` — a host's helper entry is dropped, so
    its block's credentials are the ones used."""
    if settings.docker_config_secret:
        config = _docker_config_block(settings.docker_config_secret)
    else:
        config = _local_docker_config(settings.docker_config)
    auths = dict(config.get("auths") or {})
    helpers = dict(config.get("credHelpers") or {})
    hosts = [registry_secret_entry(entry) for entry in settings.registry_secret]
    store = config.get("credsStore")
    if store and hosts:
        # a credentials store answers before `auths` for every host it knows: it keeps the hosts
        # the config lists (`docker login` lists a stored host with an empty entry), not these
        for host in auths:
            helpers.setdefault(host, store)
        config.pop("credsStore")
    for host, block in hosts:
        username, password = _registry_credential(block)
        auths[host] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode("ascii")}
        helpers.pop(host, None)
    config["auths"] = auths
    if helpers:
        config["credHelpers"] = helpers
    else:
        config.pop("credHelpers", None)
    return config


def _docker_config_block(name: str) -> dict:
    value = read_secret(name, "docker_config_secret", DOCKER_CONFIG_SHAPE)
    config = value if isinstance(value, dict) else json_mapping(value) if isinstance(value, str) else None
    if config is None and isinstance(value, str):
        decoded = _base64_text(value)
        config = json_mapping(decoded) if decoded is not None else None
    if config is None:
        raise ConfigError(
            f"the Prefect Secret block {name!r} does not hold a Docker config (its content is not shown)",
            path="docker_config_secret",
            hint='Its value is a Docker config.json\'s JSON (e.g. {"auths": {"HOST": {"auth": base64 of '
            "USER:TOKEN}}}), as `docker login` writes it. Nothing was deleted.",
        )
    return dict(config)


def _local_docker_config(docker_config: str | None) -> dict:
    """The Docker config the run would read without a block (`--docker-config`, DOCKER_CONFIG,
    ~/.docker); {} where there is none."""
    from adapters.registry.auth import docker_config_file
    from adapters.registry.options import RegistryOptions

    path = docker_config_file(RegistryOptions(docker_config=docker_config))
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the Docker config: {type(exc).__name__}",
            file=path,
            hint="Fix the file (JSON as `docker login` writes it) or point --docker-config / DOCKER_CONFIG elsewhere.",
        ) from None
    return dict(config) if isinstance(config, dict) else {}


def _registry_credential(name: str) -> tuple[str, str]:
    """(username, password) of a registry's Secret block: {username, password} (or `token`), or
    USERNAME:PASSWORD."""
    value = read_secret(name, "registry_secret", REGISTRY_SHAPE)
    if isinstance(value, str) and json_mapping(value) is not None:
        value = json_mapping(value)
    username = password = None
    if isinstance(value, dict):
        username = value.get("username") or value.get("user")
        password = value.get("password") or value.get("token")
    elif isinstance(value, str) and ":" in value:
        username, _, password = value.partition(":")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise ConfigError(
            f"the Prefect Secret block {name!r} does not hold registry credentials (its content is not shown)",
            path="registry_secret",
            hint='Its value is a mapping {"username": USER, "password": TOKEN} or the text USER:TOKEN. Nothing was deleted.',
        )
    return username, password


def _write_docker_config(config: dict) -> str:
    """A new private directory (0700) with `config.json` (0600) holding `config`; its path."""
    directory = tempfile.mkdtemp(prefix="stagesweep-docker-config-")
    os.chmod(directory, 0o700)
    path = os.path.join(directory, "config.json")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    return directory


# ------------------------------------------------------------------------ per run, and the end


@dataclass
class _Resolved:
    #: key → value (a kubeconfig) or a directory (a Docker config) of one flow run
    values: dict[tuple, str] = field(default_factory=dict)
    directories: list[str] = field(default_factory=list)


_lock = threading.Lock()
#: flow run id ("" outside a flow run) → what it resolved
_runs: dict[str, _Resolved] = {}


def _run_id() -> str:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return str(context.flow_run.id) if context is not None and context.flow_run is not None else ""


def _cached(key: tuple, make: Any) -> str:
    """`make()` once per flow run and key (the run's tasks share it; a retried or later run reads
    the blocks again)."""
    run = _run_id()
    with _lock:
        resolved = _runs.setdefault(run, _Resolved())
        if key not in resolved.values:
            value = make()
            resolved.values[key] = value
            if key[0] == "docker":
                resolved.directories.append(value)
        return resolved.values[key]


def release(flow_run_id: str | None = None) -> None:
    """Forget what flow run `flow_run_id` (None: every run of this process) resolved, and remove
    its Docker config directories."""
    with _lock:
        runs = list(_runs) if flow_run_id is None else [str(flow_run_id)]
        gone = [_runs.pop(run) for run in runs if run in _runs]
    for resolved in gone:
        for directory in resolved.directories:
            shutil.rmtree(directory, ignore_errors=True)


atexit.register(release)
