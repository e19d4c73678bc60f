"""Build adapters from settings inside a task (tasks pass settings, never live clients)."""

from __future__ import annotations

from adapters.registry.options import RegistryOptions
from schemas.settings import CommonSettings, RegistryLimit, RunSettings


def registry_options(settings: RunSettings, implementation: str = "default") -> RegistryOptions:
    return RegistryOptions(
        implementation=implementation,
        docker_config=settings.docker_config,
        insecure_registry=settings.insecure_registry,
        skip_tls_verify=settings.skip_tls_verify_registry,
        ca_file=settings.registry_ca_file,
        parallel=settings.parallel_tasks_limit,
        request_slot=registry_request_slot(settings.registry_limits) if settings.registry_limits else None,
    )


def registry_request_slot(limits: dict[str, RegistryLimit]):
    """``host -> context manager``: a slot of the Prefect global concurrency limit
    ``registry:HOST`` (after a ``registry-rate:HOST`` token where a rate is set) for the hosts in
    ``limits``; nothing for other hosts. Threads of this process first queue on a local semaphore
    of the same size, so only as many as could hold a slot ask the Prefect API for one."""
    import threading
    from contextlib import contextmanager, nullcontext

    from prefect.concurrency.sync import rate_limit

    hosts = {host.lower(): limit for host, limit in limits.items()}
    local = {host: threading.BoundedSemaphore(limit.max_concurrent_requests) for host, limit in hosts.items()}

    @contextmanager
    def held(host: str):
        with local[host]:
            if hosts[host].requests_per_second:
                rate_limit(f"registry-rate:{host}", strict=True)
            lease = _acquire_slot(f"registry:{host}")
            try:
                yield
            finally:
                _release_slot(lease)

    def slot(host: str):
        key = host.lower()
        return held(key) if key in hosts else nullcontext()

    return slot


#: a registry request is short: its slot's lease outlives it without renewal
SLOT_LEASE_SECONDS = 120.0

#: answers of a Prefect API that is busy (SQLite under many workers, a proxy in front): ask again
API_BUSY_STATUSES = frozenset({429, 502, 503, 504})
_clients: dict[str, object] = {}
_clients_lock = __import__("threading").Lock()


def _client():
    """One Prefect API client per process and API (request slots are taken per HTTP request;
    `prefect.concurrency.sync.concurrency` sets up lease renewal each time, ~0.3 s here)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    key = str(PREFECT_API_URL.value())
    with _clients_lock:
        if key not in _clients:
            if key and key != "None":
                # a client of its own, never the run context's shared one
                from prefect.client.orchestration import SyncPrefectClient
                from prefect.settings import PREFECT_API_KEY

                client = SyncPrefectClient(key, api_key=PREFECT_API_KEY.value())
            else:
                client = get_client(sync_client=True)
            client.__enter__()
            _clients[key] = client
        return _clients[key]


def _acquire_slot(name: str):
    """Take one slot of the global concurrency limit `name`, waiting while it is full; the lease id."""
    import random
    import time

    client = _client()
    while True:
        try:
            response = client.increment_concurrency_slots_with_lease(  # type: ignore[attr-defined]
                names=[name], slots=1, mode="concurrency", lease_duration=SLOT_LEASE_SECONDS
            )
            return response.json()["lease_id"]
        except Exception as exc:
            # 423: the limit is full; 429/502/503/504 or a dropped connection: the API is busy
            # (SQLite under many workers) — wait, ask again
            status = _status_of(exc)
            if status != 423 and status not in API_BUSY_STATUSES and not _is_transport_error(exc):
                raise
            retry_after = float(getattr(getattr(exc, "response", None), "headers", {}).get("Retry-After") or 0.1)
            time.sleep(min(retry_after, 1.0) * (0.5 + random.random()))


#: how long a slot's release is retried while the API is busy; then its lease frees it
RELEASE_RETRY_SECONDS = 30.0


def _release_slot(lease_id) -> None:
    """Give the slot back; a busy API is asked again for a while, then the lease (short) lets the
    slot go by itself — a request that was answered never fails because of its slot."""
    import logging
    import random
    import time

    deadline = time.monotonic() + RELEASE_RETRY_SECONDS
    delay = 0.1
    while True:
        try:
            _client().release_concurrency_slots_with_lease(lease_id)  # type: ignore[attr-defined]
            return
        except Exception as exc:
            if _status_of(exc) == 404:
                return  # the lease expired already: the slot is free
            if time.monotonic() > deadline or not (_status_of(exc) in API_BUSY_STATUSES or _is_transport_error(exc)):
                logging.getLogger("stagesweep").warning(
                    "a registry request slot was not given back (%s); its lease frees it within %g s", exc, SLOT_LEASE_SECONDS
                )
                return
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_transport_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError)


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
