"""Registry implementations (werf's ``--repo-implementation``): which one a repository uses, and
its :class:`TagDeleter`. The facts per implementation are in ``schemas/registry_implementations.py``.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Mapping

from adapters.registry.client import RegistryClient
from adapters.registry.options import RegistryOptions
from adapters.registry.reference import parse_repository
from adapters.registry.vendors.base import TagDeleter
from schemas.errors import RegistryAuthError, RegistryError
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


#: tries of the probe's `GET /v2/` before a run stops rather than guess (network errors, 429, 5xx)
PROBE_TRIES = 3
PROBE_RETRY_SECONDS = 0.25


def _ask_v2(client, host: str):  # type: ignore[no-untyped-def]
    """The registry's answer to ``GET /v2/`` (any status below 500 but 429), asked up to
    PROBE_TRIES times; raises the last network error or an error for the last failing status: a
    registry that did not answer has told nothing, and ``default`` is not a safe guess for a
    GitLab registry seen through a moment's outage."""
    last: RegistryError | None = None
    for attempt in range(PROBE_TRIES):
        if attempt:
            time.sleep(PROBE_RETRY_SECONDS * attempt)
        try:
            response = client.transport.request("GET", host, "/v2/")
        except RegistryAuthError:
            return None  # it answered, only not to these credentials: the reads say so
        except RegistryError as exc:
            if not exc.retryable:
                raise
            last = exc
            continue
        if response.status < 500 and response.status != 429:
            return response
        last = RegistryError(
            f"GET /v2/ of registry {host} answered {response.status}",
            status=response.status,
            url=response.url,
            retryable=True,
        )
    assert last is not None
    raise last


def probe_implementation(client, host: str) -> RepoImplementation | None:  # type: ignore[no-untyped-def]
    """What ``host`` tells of itself: GitLab's registry names itself in a header of its ``GET /v2/``
    answer; Harbor answers ``GET /api/v2.0/systeminfo`` (anonymous callers too) with its general
    information. None when neither does; an error when ``GET /v2/`` gets no answer."""
    response = _ask_v2(client, host)
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
        try:
            probed = probe_implementation(client, host)
        except RegistryError as exc:
            if not exc.retryable:
                raise  # its own message says what to do (a TLS certificate, say)
            raise RegistryError(
                f"could not tell which registry {host} is, to choose its implementation: {exc.message}",
                status=exc.status,
                url=exc.url,
                retryable=True,
                hint=f"Run again once the registry answers, or name its implementation with {option_name}.",
            ) from exc
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


def forget_registries() -> None:
    """Forget everything this process learnt about registries by their address (implementation,
    delete routes, owner kinds): for a process in which one host:port may be a different registry
    later, as in the tests, where a port a server freed is taken by the next."""
    from adapters.registry.vendors.default import forget_tag_deletes
    from adapters.registry.vendors.github import forget_owner_kinds
    from adapters.registry.vendors.gitlab import forget_routes

    with _resolved_lock:
        _resolved.clear()
    forget_routes()
    forget_tag_deletes()
    forget_owner_kinds()


__all__ = [
    "TagDeleter",
    "deleter_class",
    "forget_registries",
    "make_deleter",
    "probe_implementation",
    "registry_client",
    "repository_implementation",
    "resolve_implementation",
]
