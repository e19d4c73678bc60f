"""Managed images of a stages storage (SPEC §1.4): `managed-images ls|add|rm`.

`ls` and `add` only read or write one record and run without Prefect (fast). `rm` deletes, so it
is an audited run like every deleting command: the Prefect flow `managed_images_rm`, one audit
file per run, `--dry-run` honoured.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from adapters.storage import codec
from schemas.errors import StagesweepError
from schemas.settings import CommonSettings, ManagedImagesRmSettings


def _options(model: type[CommonSettings], kw: dict) -> dict:
    """The settings among the command's keyword arguments (unset ones take the model default)."""
    return {k: v for k, v in kw.items() if k in model.model_fields and v is not None}


def _settings(**kw) -> CommonSettings:
    return CommonSettings(**_options(CommonSettings, kw))


def _project(settings: CommonSettings) -> str:
    from schemas.config import load_werf_config

    return settings.project or load_werf_config(settings.config_path()).project


def _open(settings: CommonSettings, project: str):
    from tasks.adapters_from_settings import stages_storage

    return stages_storage(settings, project)


def _close(storage) -> None:
    close = getattr(storage, "close", None)
    if close is not None:
        close()


def _fail(exc: StagesweepError) -> int:
    from flows.runner import err

    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return exc.exit_code


def managed_images_ls(**kw) -> int:
    """Print the managed image names of the stages storage, one per line (`~` = nameless)."""
    try:
        settings = _settings(**kw)
        storage = _open(settings, _project(settings))
        try:
            names = storage.list_managed_images().column("image_name").to_pylist()
        finally:
            _close(storage)
    except StagesweepError as exc:
        return _fail(exc)
    for name in names:
        typer.echo(codec.display_image_name(name))
    return 0


def managed_images_add(name: str, **kw) -> int:
    """Record `name` as a managed image (nothing to do when it already is one)."""
    try:
        canonical = codec.validate_image_name(name)
        settings = _settings(**kw)
        storage = _open(settings, _project(settings))
        try:
            present = set(storage.list_managed_images().column("image_name").to_pylist())
            if canonical not in present:
                storage.add_managed_image(canonical)
        finally:
            _close(storage)
    except StagesweepError as exc:
        return _fail(exc)
    shown = codec.display_image_name(canonical)
    typer.echo(f"{shown} is already a managed image" if canonical in present else f"added managed image {shown}")
    return 0


def managed_images_rm(names: list[str], **kw) -> int:
    """Remove the managed-image records of `names` as an audited run; returns the exit code."""
    from flows.runner import run_command

    try:
        settings = ManagedImagesRmSettings(names=list(names), **_options(ManagedImagesRmSettings, kw))
    except StagesweepError as exc:
        return _fail(exc)
    return run_command("managed-images-rm", settings)
