"""Build adapters from settings inside a task (tasks pass settings, never live clients)."""

from __future__ import annotations

from adapters.registry.options import RegistryOptions
from coordination import credentials, registry_slots
from schemas.settings import CommonSettings, KubeSettings, RegistryLimit, RunSettings


def registry_options(settings: RunSettings, implementation: str = "default") -> RegistryOptions:
    return RegistryOptions(
        implementation=implementation,
        # --docker-config, or this run's Docker config made from the Secret blocks the settings name
        docker_config=credentials.docker_config_dir(settings),
        insecure_registry=settings.insecure_registry,
        skip_tls_verify=settings.skip_tls_verify_registry,
        ca_file=settings.registry_ca_file,
        parallel=settings.parallel_tasks_limit,
        request_slot=registry_request_slot(settings.registry_limits) if settings.registry_limits else None,
    )


def kube_config_base64(settings: KubeSettings) -> str | None:
    """The kubeconfig content the run's Kubernetes client reads: `--kube-config-base64`'s, or that
    of the Secret block `--kube-config-secret` names (read from the Prefect API; never logged)."""
    return credentials.kube_config_base64(settings)


def registry_request_slot(limits: dict[str, RegistryLimit]):
    """``host -> context manager``: a slot of the Prefect global concurrency limit
    ``registry:HOST`` (and a ``registry-rate:HOST`` token where a rate is set) for the hosts in
    ``limits``; nothing for other hosts. The slots come from this process's share of the limit,
    leased in bulk and lent to its threads (`coordination/registry_slots.py`): a request asks the Prefect
    API for nothing while the share lasts."""
    return registry_slots.request_slot(limits)


#: answers of a Prefect API that is busy (SQLite under many workers, a proxy in front): ask again
API_BUSY_STATUSES = registry_slots.API_BUSY_STATUSES
#: this process's registry slots per Prefect API URL; closing one gives its slots back
_clients = registry_slots.SESSIONS


def storage_implementation(settings: CommonSettings, storage: str, address: str | None) -> tuple[str, str] | None:
    """(implementation, why) of the registry storage (`stages_storage` or `images_repo`) at
    `address`; None for an OCI layout or `:local`."""
    from adapters.registry.vendors import repository_implementation
    from adapters.storage import registry_repository

    repository = registry_repository(address) if address else None
    if repository is None:
        return None
    option, option_name = settings.implementation_option(storage)
    implementation, why = repository_implementation(repository, option, option_name, registry_options(settings))
    return implementation.value, why


def repo_implementations(settings: CommonSettings) -> dict[str, dict[str, str]]:
    """Storage (`stages-storage`, `images-repo`) → its repository, implementation and why, for
    the registry storages `settings` names."""
    found: dict[str, dict[str, str]] = {}
    for kind, label, address in (
        ("stages_storage", "stages-storage", settings.stages_storage),
        ("images_repo", "images-repo", settings.images_repo),
        ("repo", "repo", settings.repo),
        ("final_repo", "final-repo", settings.final_repo),
    ):
        got = storage_implementation(settings, kind, address) if address else None
        if got:
            found[label] = {"repository": address or "", "implementation": got[0], "why": got[1]}
    return found


def storage_registry_options(settings: CommonSettings, storage: str, address: str | None) -> RegistryOptions:
    found = storage_implementation(settings, storage, address)
    return registry_options(settings, found[0] if found else "default")


def content_cache(settings: RunSettings):
    """The warm-read cache under `<home>/cache` (None with `--no-cache`)."""
    if settings.no_cache:
        return None
    from adapters.cache import ContentCache
    from adapters.home_dir import HomeDir

    return ContentCache(HomeDir(settings.home_dir).cache_dir)


def stages_storage(settings: CommonSettings, project: str, address: str | None = None, *, one_listing: bool = False):
    """The stages storage of `settings` (or at `address`, e.g. an audited row's repository).

    `one_listing`: every read shares one tag list of the storage (an inventory task's reads)."""
    from adapters.storage import open_stages_storage

    where = settings.stages_storage or address
    storage = open_stages_storage(
        where,
        project,
        storage_registry_options(settings, "stages_storage", where),
        docker_host=settings.docker_host,
        cache=content_cache(settings),
    )
    if one_listing:
        held = storage.listing()
        held.__enter__()  # for the storage's life (the task closes it)
        storage._held_listing = held  # a reference keeps the block open
    return storage


def images_repo(settings: CommonSettings, project: str, address: str | None = None):
    """The images repo of `settings` (or the repository `address` of an audited row)."""
    from adapters.storage import open_images_repo

    where = settings.images_repo or address
    return open_images_repo(
        where,
        project,
        settings.images_repo_mode.value,
        storage_registry_options(settings, "images_repo", where),
        cache=content_cache(settings),
    )


def werf2_repo(settings: CommonSettings, project: str, address: str | None = None, *, final: bool = False):
    """werf 1.2 / 2.x's repository of `settings` (`--repo`, or `--final-repo` when `final`), or the
    repository `address` of an audited row."""
    from adapters.storage.werf2_repo import open_repo

    kind = "final_repo" if final else "repo"
    where = address or (settings.final_repo if final else settings.repo)
    return open_repo(where, project, storage_registry_options(settings, kind, where), cache=content_cache(settings))
