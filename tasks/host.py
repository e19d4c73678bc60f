"""Host cleaning tasks: read the local Docker daemon and stagesweep's home directory, and decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from prefect import task

from adapters.docker_host import DockerHost, VolumeUsage
from adapters.home_dir import HomeDir
from coordination.task_options import PER_RUN, io_task_options
from core import host as host_rules
from schemas.settings import HostSettings
from tasks.publish import publish_counts


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
def decide_host_cleanup(docker: DockerInventory, home: HomeInventory, now: datetime, settings: HostSettings) -> pa.Table:
    return host_rules.decide_host_cleanup(
        docker.containers,
        docker.images,
        _usage(docker.volume),
        home.entries,
        _usage(home.volume),
        now,
        docker_limit=host_rules.VolumeLimit(
            settings.allowed_docker_storage_volume_usage, settings.allowed_docker_storage_volume_usage_margin
        ),
        cache_limit=host_rules.VolumeLimit(
            settings.allowed_local_cache_volume_usage, settings.allowed_local_cache_volume_usage_margin
        ),
        docker_address=docker.address,
    )


@task(name="decide_host_purge", cache_policy=PER_RUN, persist_result=True)
def decide_host_purge(docker: DockerInventory, home: HomeInventory, force: bool) -> pa.Table:
    return host_rules.decide_host_purge(
        docker.containers, docker.images, home.entries, force=force, docker_address=docker.address
    )


def publish_host_inventory(docker: DockerInventory, home: HomeInventory) -> None:
    counts = {
        "containers": docker.containers.num_rows,
        "images": docker.images.num_rows,
        "home entries": home.entries.num_rows,
    }
    if docker.volume is not None:
        counts["docker storage volume usage %"] = round(docker.volume.percent)
    if home.volume is not None:
        counts["home volume usage %"] = round(home.volume.percent)
    publish_counts("host-inventory", "What the build host holds", counts)
