"""Host cleaning (SPEC §8): `host_cleanup` and `host_purge` of a build host's local Docker and
stagesweep's home directory."""

from __future__ import annotations

from prefect import flow

from coordination.deletion_run import finish
from schemas.settings import HostSettings
from schemas.summary import RunSummary
from schemas.vocab import Command
from tasks.decide import build_deletion_plan
from tasks.delete import deletion_run
from tasks.host import (
    decide_host_cleanup,
    decide_host_purge,
    extract_docker_host,
    extract_home_dir,
    publish_host_inventory,
)


@flow(
    name="host_cleanup",
    description="Remove stopped werf build containers, old dangling werf images and temp files, and "
    "least-recently-used werf images and cache entries while volume usage is above the limits.",
)
def host_cleanup(settings: HostSettings) -> RunSummary:
    # host cleanup never forces: a container that started after planning stays
    settings = settings.model_copy(update={"force": False})
    run = deletion_run(Command.HOST_CLEANUP, settings)

    def body() -> None:
        # 1. what the host holds, and how full its volumes are
        docker = extract_docker_host(settings, measure_volume=True)
        home = extract_home_dir(settings, measure_volume=True)
        publish_host_inventory(docker, home)
        # 2. decisions and one ordered plan: containers, then images, then home entries
        plan = build_deletion_plan([decide_host_cleanup(docker, home, run.now, settings)])
        # 3. execution (nothing in a dry run)
        run.execute(plan)

    return finish(run, body)


@flow(
    name="host_purge",
    description="Remove every werf container (running ones only with force), every werf image and "
    ":local stages-storage image, and stagesweep's temp and cache files.",
)
def host_purge(settings: HostSettings) -> RunSummary:
    run = deletion_run(Command.HOST_PURGE, settings)

    def body() -> None:
        docker = extract_docker_host(settings, measure_volume=False)
        home = extract_home_dir(settings, measure_volume=False)
        publish_host_inventory(docker, home)
        plan = build_deletion_plan([decide_host_purge(docker, home, settings.force)])
        run.execute(plan)

    return finish(run, body)
