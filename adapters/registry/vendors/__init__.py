"""Registry implementations (werf's ``--repo-implementation``): which one a repository uses, and
its :class:`TagDeleter`. The facts per implementation are in ``schemas/registry_implementations.py``.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Mapping

from adapters.registry.client import RegistryClient
from adapters.registry.options import RegistryOptions
from adapters.registry.reference import parse_repository
from adapters.registry.vendors.base import TagDeleter
from schemas.registry_implementations import RepoImplementation, detect

#: implementation → "module:class" of its deleter (imported on first use: boto3 only for ECR)
_DELETERS: dict[RepoImplementation, str] = {
    RepoImplementation.DEFAULT: "adapters.registry.vendors.default:DefaultDeleter",
    RepoImplementation.DOCKERHUB: "adapters.registry.vendors.dockerhub:DockerHubDeleter",
    RepoImplementation.GITHUB: "adapters.registry.vendors.github:GitHubDeleter",
    RepoImplementation.GITLAB: "adapters.registry.vendors.gitlab:GitLabDeleter",
    RepoImplementation.HARBOR: "adapters.registry.vendors.harbor:HarborDeleter",
    RepoImplementation.QUAY: "adapters.registry.vendors.quay:QuayDeleter",
    RepoImplementation.ECR: "adapters.registry.vendors.ecr:EcrDeleter",
    RepoImplementation.ACR: "adapters.registry.vendors.acr:AcrDeleter",
    RepoImplementation.GCR: "adapters.registry.vendors.gcr:GcrDeleter",
}

#: a header only GitLab's container registry sends, on its answer to `GET /v2/`
GITLAB_HEADER = "Gitlab-Container-Registry-Version"


def deleter_class(implementation: RepoImplementation | str) -> type[TagDeleter]:
    module, _, name = _DELETERS[RepoImplementation(implementation)].partition(":")
    return getattr(importlib.import_module(module), name)


def make_deleter(client, implementation: RepoImplementation | str, env: Mapping[str, str] | None = None) -> TagDeleter:  # type: ignore[no-untyped-def]
    return deleter_class(implementation)(client, env)


def registry_client(options: RegistryOptions | None = None, env: Mapping[str, str] | None = None) -> RegistryClient:
    """A registry client with its implementation's tag deleter (``options.implementation``), made
    on first use — at once where that implementation's credentials also serve the registry's
    reads (ECR's token)."""
    options = options or RegistryOptions()
    implementation = options.implementation
    client = RegistryClient(options, deleter=lambda owner: make_deleter(owner, implementation, env))
    if implementation not in ("default", "auto") and deleter_class(implementation).provides_registry_credentials:
        client.deleter  # noqa: B018 - its credentials serve the registry's reads too
    return client


#: Harbor's general system information, answered to anonymous callers too (Harbor API v2.0 ``getSystemInfo``)
HARBOR_SYSTEMINFO = "/api/v2.0/systeminfo"
#: keys of Harbor's ``GeneralInfo`` that an anonymous answer carries (``harbor_version`` only when signed in)
_HARBOR_KEYS = frozenset({"auth_mode", "primary_auth_mode", "harbor_version", "self_registration"})

#: why each probed implementation was chosen (the run prints and audits it)
PROBE_REASONS = {
    RepoImplementation.GITLAB: f"answered GET /v2/ with the {GITLAB_HEADER} header",
    RepoImplementation.HARBOR: f"answered GET {HARBOR_SYSTEMINFO} with Harbor's system information",
}


def probe_implementation(client, host: str) -> RepoImplementation | None:  # type: ignore[no-untyped-def]
    """What ``host`` tells of itself: GitLab's registry names itself in a header of its ``GET /v2/``
    answer; Harbor answers ``GET /api/v2.0/systeminfo`` (anonymous callers too) with its general
    information. None when neither does or the host does not answer."""
    try:
        response = client.transport.request("GET", host, "/v2/")
    except Exception:
        response = None
    if response is not None and response.header(GITLAB_HEADER):
        return RepoImplementation.GITLAB
    try:
        # anonymous (Harbor answers it so): no registry credential goes to an API that needs none
        url = client.transport.url(host, HARBOR_SYSTEMINFO)
        response = client.transport.send("GET", url, {"Accept": "application/json"})
        document = json.loads(response.body) if response.status == 200 else None
    except Exception:
        return None
    if isinstance(document, dict) and _HARBOR_KEYS & document.keys():
        return RepoImplementation.HARBOR
    return None


def resolve_implementation(
    option: RepoImplementation | str,
    host: str,
    option_name: str,
    client=None,  # type: ignore[no-untyped-def]
) -> tuple[RepoImplementation, str]:
    """(implementation, why) of a repository on ``host``: the option unless ``auto``; else the
    host's pattern; else what the registry tells of itself (probe, with ``client``); else default."""
    chosen = RepoImplementation(option)
    if chosen != RepoImplementation.AUTO:
        return chosen, f"set by {option_name}"
    found = detect(host)
    if found is not None:
        return found, f"host {host} matches the {found.value} host patterns"
    if client is not None:
        probed = probe_implementation(client, host)
        if probed is not None:
            return probed, f"the registry at {host} {PROBE_REASONS[probed]}"
    return RepoImplementation.DEFAULT, f"host {host} matches no vendor host pattern"


_resolved: dict[tuple, tuple[RepoImplementation, str]] = {}
_resolved_lock = threading.Lock()


def repository_implementation(
    repository: str, option: RepoImplementation | str, option_name: str, options: RegistryOptions
) -> tuple[RepoImplementation, str]:
    """(implementation, why) of the registry repository ``repository`` (``HOST[:PORT]/PATH``),
    resolved once per process and host (a probe is a ``GET /v2/`` and, unless that tells, a
    ``GET /api/v2.0/systeminfo``)."""
    host = parse_repository(repository).registry
    key = (
        host,
        str(option),
        option_name,
        options.docker_config,
        options.insecure_registry,
        options.skip_tls_verify,
        options.ca_file,
    )
    with _resolved_lock:
        if key in _resolved:
            return _resolved[key]
    if RepoImplementation(option) == RepoImplementation.AUTO and detect(host) is None:
        with RegistryClient(options) as client:  # the probe holds a request slot like every request
            found = resolve_implementation(option, host, option_name, client)
    else:
        found = resolve_implementation(option, host, option_name)
    with _resolved_lock:
        _resolved[key] = found
    return found


__all__ = [
    "TagDeleter",
    "deleter_class",
    "make_deleter",
    "probe_implementation",
    "registry_client",
    "repository_implementation",
    "resolve_implementation",
]
