"""Credentials by reference: what a settings field or a fleet file may say about a credential.

A run's kubeconfig, registry credentials and Docker config come from a Prefect `Secret` block the
settings *name* (`kube_config_secret`, `registry_secret`, `docker_config_secret`), or from the
environment and files of the machine the run is on — never as a value in Prefect parameters or in
a fleet file. This module holds the pure parts: the shape of a block name and of a
`HOST=BLOCK` entry, and how a fleet file's keys and values are recognised as credentials.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from pydantic import ValidationInfo

from schemas.errors import UsageError

#: a Prefect block document name (Prefect accepts lower-case letters, digits and dashes)
BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
BLOCK_NAME_PATTERN = BLOCK_NAME.pattern
#: HOST[:PORT] of a registry, as the Docker config's `auths` keys it
_REGISTRY_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")

KUBECONFIG_HINT = (
    "Put the kubeconfig in a Prefect Secret block and name the block: `kube_config_secret: BLOCK` (the run reads it "
    "from the Prefect API); or give the machines that run the projects a kubeconfig file and set `kube_config: PATH`, "
    "or set STAGESWEEP_KUBE_CONFIG_BASE64 in the environment of the fleet run and of the pool's workers"
)
REGISTRY_HINT = (
    "Put the registry's credentials in a Prefect Secret block ({username, password}) and name the block: "
    "`registry_secret: [HOST=BLOCK]`, or a whole Docker config in one: `docker_config_secret: BLOCK` (the run reads "
    "them from the Prefect API); or keep them in the Docker config of the machines that run the projects "
    "(DOCKER_CONFIG, ~/.docker/config.json)"
)
URL_HINT = (
    "Leave the credentials out of the URL: git reads them from its own helpers on the machines that run the "
    "projects (a credential helper, an SSH agent or key, .netrc)"
)
PRIVATE_KEY_HINT = (
    "Keep keys and certificates in files on the machines that run the projects, or in a kubeconfig or Docker config "
    "held by a Prefect Secret block (`kube_config_secret`, `docker_config_secret`)"
)

#: keys whose value is a credential, wherever they stand in a fleet file (compared lower-case,
#: `-` as `_`), and where the value goes instead
CREDENTIAL_KEYS: dict[str, str] = {
    **dict.fromkeys(
        (
            "kube_config_base64",
            "kubeconfig",
            "kube_config_content",
            "kube_config_data",
            "kubeconfig_base64",
            "client_key_data",
            "client_certificate_data",
            "certificate_authority_data",
        ),
        KUBECONFIG_HINT,
    ),
    **dict.fromkeys(
        (
            "password",
            "passwd",
            "token",
            "access_token",
            "api_token",
            "api_key",
            "bearer_token",
            "registry_token",
            "registry_password",
            "docker_password",
            "identitytoken",
            "identity_token",
            "registrytoken",
            "refresh_token",
            "auth",
            "auths",
            "docker_auth",
            "dockerconfigjson",
            "docker_config_json",
            "credentials",
            "credential",
            "secret",
            "client_secret",
            "aws_secret_access_key",
            "aws_session_token",
        ),
        REGISTRY_HINT,
    ),
}


def normalise_key(key: object) -> str:
    return str(key).strip().lower().replace("-", "_").lstrip(".")


def credential_key_hint(key: object) -> str | None:
    """Where a credential under `key` goes instead; None when `key` names no credential."""
    return CREDENTIAL_KEYS.get(normalise_key(key))


def block_name_problem(name: str) -> str | None:
    """Why `name` is not a Prefect block name, or None."""
    if not BLOCK_NAME.match(name):
        return (
            "not a Prefect Secret block's name (lower-case letters, digits and dashes): the field names the block "
            "that holds the credential, never the credential itself"
        )
    return None


def registry_secret_entry(entry: str) -> tuple[str, str]:
    """`HOST[:PORT]=BLOCK` as (host, block); ValueError saying what is wrong (never quoting a
    value that may be a credential)."""
    host, sep, block = entry.partition("=")
    host = host.strip().lower()
    block = block.strip()
    if not sep or not _REGISTRY_HOST.match(host):
        raise ValueError(
            "expected HOST[:PORT]=BLOCK (a registry host, then the name of the Prefect Secret block that holds its credentials)"
        )
    problem = block_name_problem(block)
    if problem:
        raise ValueError(f"the block of {host}: {problem}")
    return host, block


def registry_secret_entries(entries: list[str]) -> list[str]:
    """The entries normalised (`host=block`); one host at most once."""
    seen: dict[str, str] = {}
    for entry in entries:
        host, block = registry_secret_entry(entry)
        if host in seen and seen[host] != block:
            raise ValueError(f"{host} is given two blocks; give one")
        seen[host] = block
    return [f"{host}={block}" for host, block in seen.items()]


def _option(info: ValidationInfo) -> str:
    return "--" + str(info.field_name).replace("_", "-")


def block_name_field(cls: type, value: str | None, info: ValidationInfo) -> str | None:
    """Validator of a field naming a Secret block. Its error never quotes the value (someone may
    have given the credential itself) and is a usage error, not a validation error that would."""
    if value is None:
        return None
    problem = block_name_problem(value.strip())
    if problem:
        raise UsageError(f"{_option(info)} (`{info.field_name}`): {problem}")
    return value.strip()


def registry_secret_field(cls: type, value: list[str], info: ValidationInfo) -> list[str]:
    """Validator of `registry_secret`: `HOST=BLOCK` entries, normalised; an error quotes no value."""
    try:
        return registry_secret_entries(list(value))
    except ValueError as exc:
        raise UsageError(f"{_option(info)} (`{info.field_name}`): {exc}") from None


# ------------------------------------------------------------------ values that are credentials

#: a URL that carries a password (`scheme://user:password@host`)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]*:[^/@\s]+@", re.IGNORECASE)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*(PRIVATE KEY|CERTIFICATE)-----")
#: an `Authorization`-style secret: a JWT, or a vendor's token prefix (GitHub, GitLab, Docker Hub)
_TOKEN = re.compile(r"^(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.|gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{16,}|dckr_pat_)")


def _document(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _decoded(text: str) -> str | None:
    compact = "".join(text.split())
    if len(compact) < 16 or len(compact) % 4:
        return None
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _credential_document(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    keys = {normalise_key(k) for k in document}
    if "clusters" in keys or {"users", "contexts"} <= keys:
        return KUBECONFIG_HINT
    if keys & {"auths", "credhelpers", "credsstore"}:
        return REGISTRY_HINT
    return None


def credential_value_hint(value: object) -> str | None:
    """Where `value` goes instead when it is a credential itself — a kubeconfig or a Docker config
    (as text, JSON or base64), a private key or certificate, a well-known token form; else None."""
    if not isinstance(value, str) or len(value) < 8:
        return None
    if _PEM.search(value):
        return PRIVATE_KEY_HINT
    if _TOKEN.match(value.strip()):
        return REGISTRY_HINT
    if _URL_PASSWORD.match(value.strip()):
        return URL_HINT
    if "\n" in value or value.lstrip().startswith("{"):
        hint = _credential_document(_document(value))
        if hint:
            return hint
    decoded = _decoded(value)
    if decoded is not None:
        if _PEM.search(decoded):
            return PRIVATE_KEY_HINT
        return _credential_document(_document(decoded))
    return None


def credentials_in(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, hint) of every credential in a parsed fleet file: a key that names one, a mapping
    that is a kubeconfig or a Docker config, or a value that is one. Paths as the fleet's errors
    give them (`defaults.kube_config_base64`, `projects[acme].registry_password`)."""
    if isinstance(data, dict):
        for key, value in data.items():
            key_hint = credential_key_hint(key)
            if key_hint and value not in (None, "", [], {}):
                yield (f"{path}.{key}" if path else str(key)), key_hint
                return
        hint = _credential_document(data) if path else None
        if hint:
            yield path, hint
            return
        for key, value in data.items():
            yield from credentials_in(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            name = item.get("name") if isinstance(item, dict) else None
            yield from credentials_in(item, f"{path}[{name if isinstance(name, str) else index}]")
    else:
        hint = credential_value_hint(data)
        if hint:
            yield path, hint


def json_mapping(text: str) -> dict[str, Any] | None:
    """`text` as a JSON mapping, or None."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
