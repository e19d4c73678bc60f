"""Managed images of a stages storage (SPEC §1.4): `managed-images ls|add|rm`.

`ls` and `add` only read or write one record and run without Prefect (fast). `rm` deletes, so it
is an audited run like every deleting command: the Prefect flow `managed_images_rm`, one audit
file per run, `--dry-run` honoured.
"""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc
import typer
from pydantic import Field
from rich.markup import escape

from adapters.storage import codec
from schemas.errors import StagesweepError
from schemas.settings import CommonSettings
from schemas.tables import METADATA_SCHEMA, STAGES_SCHEMA


class ManagedImagesRmSettings(CommonSettings):
    """Settings of `managed-images rm`."""

    names: list[str] = Field(
        ..., min_length=1, description="Image names whose managed-image records are removed (`~` = nameless image)."
    )


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

    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
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
    from flows import prefect_env
    from flows.runner import print_summary

    api = prefect_env.configure()
    settings = ManagedImagesRmSettings(names=list(names), **_options(ManagedImagesRmSettings, kw))
    try:
        summary = rm_flow()(settings=settings)
    except StagesweepError as exc:
        summary = getattr(exc, "summary", None)
        if summary is not None:
            print_summary(summary, api)
        return _fail(exc)
    print_summary(summary, api)
    return summary.exit_code


def decide_managed_images_rm(managed: pa.Table, names: list[str]) -> pa.Table:
    """Delete rows (reason `purge`) for the managed-image records of `names`."""
    from core.purge import purge_stages

    chosen = managed.filter(pc.is_in(managed["image_name"], pa.array(names, pa.string())))
    return purge_stages(STAGES_SCHEMA.empty_table(), METADATA_SCHEMA.empty_table(), chosen)


@functools.cache
def rm_flow():
    """The Prefect flow `managed_images_rm` (built on first use, so `ls`/`add` never load Prefect)."""
    from prefect import flow, get_run_logger, task

    from flows.execution import Run, finish
    from schemas.vocab import Command
    from tasks.decide import build_deletion_plan
    from tasks.extract import PER_RUN, read_werf_config
    from tasks.retry import io_task_options

    @task(name="extract_managed_images", cache_policy=PER_RUN, persist_result=True, **io_task_options())
    def extract_managed_images(settings: ManagedImagesRmSettings, project: str) -> pa.Table:
        storage = _open(settings, project)
        try:
            return storage.list_managed_images()
        finally:
            _close(storage)

    @flow(name="managed_images_rm", description="Remove managed-image records from the stages storage.")
    def managed_images_rm_flow(settings: ManagedImagesRmSettings):
        run = Run(Command.MANAGED_IMAGES_RM.value, settings)

        def body() -> None:
            names = [codec.validate_image_name(name) for name in settings.names]
            run.project = settings.project or read_werf_config(settings).project
            managed = extract_managed_images(settings, run.project)
            missing = sorted(set(names) - set(managed.column("image_name").to_pylist()))
            if missing:
                get_run_logger().warning(
                    "not managed images (nothing to remove): %s",
                    ", ".join(codec.display_image_name(n) for n in missing),
                )
            run.execute(build_deletion_plan([decide_managed_images_rm(managed, names)]))

        return finish(run, body)

    return managed_images_rm_flow


def __getattr__(name: str):
    if name == "managed_images_rm_flow":
        return rm_flow()
    raise AttributeError(name)
