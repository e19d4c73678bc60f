"""`apply`: execute a reviewed dry-run audit, or retry the failed rows of a run, re-checking
every row at apply time (SPEC §9; a flow run with its own audit file)."""

from __future__ import annotations

import pyarrow as pa
from prefect import flow, task

from adapters.audit import read_audit
from core.reapply import recheck, rows_to_apply
from flows.execution import Run, RunSummary, finish
from schemas.errors import StagesweepError
from schemas.settings import ApplySettings
from schemas.vocab import Command, ItemType, StorageKind
from tasks.decide import build_deletion_plan
from tasks.extract import PER_RUN, extract_kube_images
from tasks.publish import publish_counts


@task(name="read_audited_plan", cache_policy=PER_RUN, persist_result=True)
def read_audited_plan(audit_file: str, only_failed: bool) -> tuple[str, list[dict]]:
    audit = read_audit(audit_file)
    if audit.num_rows == 0:
        raise StagesweepError(f"the audit {audit_file} has no rows", hint="Pass the audit file of a run that planned deletions.")
    project = audit.column("project")[0].as_py()
    return project, rows_to_apply(audit, only_failed)


@task(name="read_current_state", cache_policy=PER_RUN, persist_result=True)
def read_current_state(settings: ApplySettings, project: str, rows: list[dict]) -> tuple[dict, dict]:
    """Current digests of the images-repo tags to delete, and the stages today's images need."""
    from adapters.storage import open_images_repo, open_stages_storage
    from core.stages import decide_stages
    from tasks.adapters_from_settings import registry_options

    options = registry_options(settings)
    digests: dict[tuple[str, str], str | None] = {}
    image_rows = [r for r in rows if r["storage"] == StorageKind.IMAGES_REPO]
    by_repo: dict[str, list[str]] = {}
    for r in image_rows:
        by_repo.setdefault(r["repository"], []).append(r["tag"])
    for repository, tags in by_repo.items():
        repo = open_images_repo(repository, project, "multirepo", options)
        found = repo.backend.digests(repository, tags)
        digests.update({(repository, t): found.get(t) for t in tags})
    needed: dict[tuple[str, str], str] = {}
    stage_rows = [r for r in rows if r["item_type"] == ItemType.STAGE]
    if stage_rows and settings.images_repo:
        from datetime import datetime, timedelta, timezone

        stages = open_stages_storage(stage_rows[0]["repository"], project, options, docker_host=settings.docker_host)
        images = open_images_repo(settings.images_repo, project, settings.images_repo_mode.value, options)
        names = stages.list_managed_images().column("image_name").to_pylist()
        decisions = decide_stages(
            stages.list_stages(), images.list_image_tags(names), datetime.now(timezone.utc), timedelta(0)
        )
        needed = {
            (d["repository"], d["tag"]): d["detail"]
            for d in decisions.to_pylist()
            if d["action"] == "keep" and d["reason"] in ("parent-of-kept-image", "import-source")
        }
    return digests, needed


@flow(name="apply", description="Execute a reviewed dry-run audit or retry the failed rows of a run, re-checking each row.")
def apply(settings: ApplySettings) -> RunSummary:
    run = Run(Command.APPLY.value, settings)

    def body() -> None:
        # 1. the audited plan and what to run again
        run.project, rows = read_audited_plan(settings.audit_file, settings.only_failed)
        publish_counts("apply-input", "Rows to apply", {"rows": len(rows)})
        # 2. the world now: digests, Kubernetes, stages today's images need
        digests, needed = read_current_state(settings, run.project, rows)
        kube_used: dict = {}
        if not settings.without_kube:
            kube_used = _used_tags(rows, extract_kube_images(settings))
        # 3. re-check, plan, execute
        plan = build_deletion_plan([recheck(rows, digests, kube_used, needed)])
        run.execute(plan)

    return finish(run, body)


def _used_tags(rows: list[dict], kube: pa.Table) -> dict:
    from core.allow_list import match_used_tags
    from schemas.tables import IMAGE_TAGS_SCHEMA

    tags = pa.Table.from_pylist(
        [
            {"image_name": r["image_name"] or "", "repository": r["repository"], "tag": r["tag"], "digest": r["digest"] or ""}
            for r in rows
            if r["storage"] == StorageKind.IMAGES_REPO
        ],
        schema=IMAGE_TAGS_SCHEMA,
    )
    used = match_used_tags(tags, kube)
    return {(u["repository"], u["tag"]): u["detail"] for u in used.to_pylist()}

