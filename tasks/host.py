"""Host cleaning tasks: read the local Docker daemon and stagesweep's home, decide, and the
stores the deletion batches use for ``storage = host`` rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from prefect import task

from adapters.docker_host import DockerHost, VolumeUsage
from adapters.home_dir import HomeDir
from adapters.storage.base import DeleteResult
from core.host import VolumeLimit, decide_host_cleanup, decide_host_purge
from schemas.settings import HostSettings
from schemas.vocab import ItemType
from tasks.extract import PER_RUN
from tasks.retry import io_task_options


@dataclass
class DockerInventory:
    address: str
    containers: pa.Table
    images: pa.Table
    volume: VolumeUsage | None = None


@dataclass
class HomeInventory:
    home: str
    entries: pa.Table
    volume: VolumeUsage | None = None


def _usage(volume: VolumeUsage | None) -> tuple[int, int]:
    return (volume.used, volume.total) if volume is not None else (0, 0)


@task(name="extract_docker_host", cache_policy=PER_RUN, persist_result=True, **io_task_options())
def extract_docker_host(settings: HostSettings, measure_volume: bool = True) -> DockerInventory:
    host = DockerHost(settings.docker_host, parallel=settings.parallel_tasks_limit)
    try:
        containers = host.containers()
        images = host.images(containers)
        volume = host.storage_volume(settings.docker_storage_path) if measure_volume else None
    finally:
        host.close()
    return DockerInventory(host.address, containers, images, volume)


@task(name="extract_home_dir", cache_policy=PER_RUN, persist_result=True)
def extract_home_dir(settings: HostSettings, measure_volume: bool = True) -> HomeInventory:
    home = HomeDir(settings.home_dir)
    return HomeInventory(str(home.root), home.entries(), home.volume() if measure_volume else None)


@task(name="decide_host_cleanup", cache_policy=PER_RUN, persist_result=True)
def decide_cleanup(docker: DockerInventory, home: HomeInventory, now: datetime, settings: HostSettings) -> pa.Table:
    return decide_host_cleanup(
        docker.containers,
        docker.images,
        _usage(docker.volume),
        home.entries,
        _usage(home.volume),
        now,
        docker_limit=VolumeLimit(
            settings.allowed_docker_storage_volume_usage, settings.allowed_docker_storage_volume_usage_margin
        ),
        cache_limit=VolumeLimit(
            settings.allowed_local_cache_volume_usage, settings.allowed_local_cache_volume_usage_margin
        ),
        docker_address=docker.address,
    )


@task(name="decide_host_purge", cache_policy=PER_RUN, persist_result=True)
def decide_purge(docker: DockerInventory, home: HomeInventory, force: bool) -> pa.Table:
    return decide_host_purge(docker.containers, docker.images, home.entries, force=force, docker_address=docker.address)


class _DockerStore:
    """Opens a client per batch and closes it when the batch is done."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings

    def delete_items(self, rows: Sequence[Mapping], parallel: int | None = None) -> list[DeleteResult]:
        host = DockerHost(self.settings.docker_host, force=self.settings.force, parallel=self.settings.parallel_tasks_limit)
        try:
            return host.delete_items(rows, parallel)
        finally:
            host.close()


def host_store(settings: HostSettings, item_type: str):
    """The store that removes ``storage = host`` rows of ``item_type``."""
    if item_type == ItemType.CACHE_ENTRY:
        return HomeDir(settings.home_dir)
    return _DockerStore(settings)
