"""Host cleaning (SPEC §8): `host_cleanup` and `host_purge` of a build host's local Docker and
stagesweep's home directory."""

from __future__ import annotations

from prefect import flow

from flows.execution import Run, RunSummary, finish
from schemas.settings import HostSettings
from schemas.vocab import Command
from tasks.decide import build_deletion_plan
from tasks.host import decide_cleanup, decide_purge, extract_docker_host, extract_home_dir
from tasks.publish import publish_counts


@flow(
    name="host_cleanup",
    description="Remove stopped werf build containers, old dangling werf images and temp files, and "
    "least-recently-used werf images and cache entries while volume usage is above the limits.",
)
def host_cleanup(settings: HostSettings) -> RunSummary:
    # host cleanup never forces: a container that started after planning stays
    settings = settings.model_copy(update={"force": False})
    run = Run(Command.HOST_CLEANUP.value, settings)

    def body() -> None:
        # 1. what the host holds, and how full its volumes are
        docker = extract_docker_host(settings, measure_volume=True)
        home = extract_home_dir(settings, measure_volume=True)
        _publish_inventory(docker, home)
        # 2. decisions and one ordered plan: containers, then images, then home entries
        plan = build_deletion_plan([decide_cleanup(docker, home, run.now, settings)])
        # 3. execution (nothing in a dry run)
        run.execute(plan)

    return finish(run, body)


@flow(
    name="host_purge",
    description="Remove every werf container (running ones only with force), every werf image and "
    ":local stages-storage image, and stagesweep's temp and cache files.",
)
def host_purge(settings: HostSettings) -> RunSummary:
    run = Run(Command.HOST_PURGE.value, settings)

    def body() -> None:
        docker = extract_docker_host(settings, measure_volume=False)
        home = extract_home_dir(settings, measure_volume=False)
        _publish_inventory(docker, home)
        plan = build_deletion_plan([decide_purge(docker, home, settings.force)])
        run.execute(plan)

    return finish(run, body)


def _publish_inventory(docker, home) -> None:
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
