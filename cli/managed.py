"""`managed-images ls` and `add` (SPEC §1.4): they read or write one record and run without
Prefect (fast). `rm` deletes, so it is an audited flow run (`flows.managed_images`)."""

from __future__ import annotations

import typer

from adapters.storage import codec, open_stages_storage
from adapters.storage.base import StagesStorage
from cli.werf_yaml import read_werf_yaml
from coordination.adapters_from_settings import registry_options
from schemas.settings import CommonSettings


def _open(settings: CommonSettings) -> StagesStorage:
    project = settings.project or read_werf_yaml(settings).project
    return open_stages_storage(settings.stages_storage, project, registry_options(settings), docker_host=settings.docker_host)


def list_managed_images(settings: CommonSettings) -> int:
    """Print the managed image names of the stages storage, one per line (`~` = nameless)."""
    with _open(settings) as storage:
        names = storage.list_managed_images().column("image_name").to_pylist()
    for name in names:
        typer.echo(codec.display_image_name(name))
    return 0


def add_managed_image(name: str, settings: CommonSettings) -> int:
    """Record `name` as a managed image (nothing to do when it already is one)."""
    canonical = codec.validate_image_name(name)
    with _open(settings) as storage:
        present = set(storage.list_managed_images().column("image_name").to_pylist())
        if canonical not in present:
            storage.add_managed_image(canonical)
    shown = codec.display_image_name(canonical)
    typer.echo(f"{shown} is already a managed image" if canonical in present else f"added managed image {shown}")
    return 0
