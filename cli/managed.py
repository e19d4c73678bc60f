"""`managed-images ls` and `add` (SPEC §1.4, §13.1): they read or write one record and run without
Prefect (fast). `rm` deletes, so it is an audited flow run (`flows.managed_images`)."""

from __future__ import annotations

from typing import Any

import typer

from adapters.storage import codec, open_stages_storage
from cli.werf_yaml import read_werf_yaml
from coordination.adapters_from_settings import registry_options, werf2_repo
from schemas.settings import CommonSettings


def _open(settings: CommonSettings) -> Any:
    """The stages storage, or werf 1.2 / 2.x's repository with `--repo`."""
    project = settings.project or read_werf_yaml(settings).project
    if settings.werf2:
        return werf2_repo(settings, project)
    return open_stages_storage(settings.stages_storage, project, registry_options(settings), docker_host=settings.docker_host)


def _canonical(name: str, settings: CommonSettings) -> str:
    """The stored form of an image name: werf v1.1's rules for its storages; for a werf 1.2 / 2.x
    repository any name, `~` (or nothing) the nameless image."""
    if settings.werf2:
        return "" if name in ("~", "") else name
    return codec.validate_image_name(name)


def list_managed_images(settings: CommonSettings) -> int:
    """Print the managed image names, one per line (`~` = nameless)."""
    with _open(settings) as storage:
        names = storage.list_managed_images().column("image_name").to_pylist()
    for name in names:
        typer.echo(codec.display_image_name(name))
    return 0


def add_managed_image(name: str, settings: CommonSettings) -> int:
    """Record `name` as a managed image (nothing to do when it already is one)."""
    canonical = _canonical(name, settings)
    with _open(settings) as storage:
        present = set(storage.list_managed_images().column("image_name").to_pylist())
        if canonical not in present:
            storage.add_managed_image(canonical)
    shown = codec.display_image_name(canonical)
    typer.echo(f"{shown} is already a managed image" if canonical in present else f"added managed image {shown}")
    return 0
