"""Build adapters from settings inside a task (tasks pass settings, never live clients)."""

from __future__ import annotations

from adapters.registry.options import RegistryOptions
from schemas.settings import CommonSettings, RunSettings


def registry_options(settings: RunSettings) -> RegistryOptions:
    return RegistryOptions(
        docker_config=settings.docker_config,
        insecure_registry=settings.insecure_registry,
        skip_tls_verify=settings.skip_tls_verify_registry,
        ca_file=settings.registry_ca_file,
        parallel=settings.parallel_tasks_limit,
    )


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

    storage = open_stages_storage(
        settings.stages_storage or address,
        project,
        registry_options(settings),
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

    return open_images_repo(
        settings.images_repo or address,
        project,
        settings.images_repo_mode.value,
        registry_options(settings),
        cache=content_cache(settings),
    )
