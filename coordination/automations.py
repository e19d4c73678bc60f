"""The Prefect automations stagesweep keeps on its server (deployments/automations.yaml):

* runs whose process died are ended: Prefect's documented zombie-run automation marks a flow run
  `Crashed` once it has stopped sending heartbeats (docs.prefect.io/v3/advanced/detect-zombie-flows);
* operators learn of failures: a failed or crashed run of stagesweep's deployments sends a
  notification through a webhook block.

Created or updated (by name, so applying them again changes nothing) wherever stagesweep registers
deployments: `stagesweep serve`, the fleet run's pool deployment, `stagesweep server automations`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from coordination.heartbeats import (
    DEFAULT_MISSED_HEARTBEATS,
    HEARTBEAT_ENV,
    PREFECT_DEFAULT_HEARTBEAT_SECONDS,
    carried_heartbeat,
    heartbeat_seconds,
)
from schemas.errors import ConfigError

AUTOMATIONS_FILE = Path(__file__).resolve().parents[1] / "deployments" / "automations.yaml"
AUTOMATIONS_FILE_ENV = "STAGESWEEP_AUTOMATIONS_FILE"
WEBHOOK_ENV = "STAGESWEEP_ALERT_WEBHOOK_URL"


def load_spec(path: str | os.PathLike | None = None) -> dict[str, Any]:
    file = Path(path or os.environ.get(AUTOMATIONS_FILE_ENV) or AUTOMATIONS_FILE)
    try:
        spec = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the automations file: {exc}", file=str(file)) from None
    if not isinstance(spec, dict) or "crash_zombie_runs" not in spec:
        raise ConfigError("expected crash_zombie_runs: and notify_failed_runs:", file=str(file))
    return spec


def zombie_window(client: Any, path: str | os.PathLike | None = None) -> timedelta | None:
    """How long a run may go without a heartbeat before the zombie automation on the server of
    `client` marks it Crashed; None when that automation does not exist (or is disabled)."""
    found = client.read_automations_by_name(load_spec(path)["crash_zombie_runs"]["name"])
    trigger = found[0].trigger if found and found[0].enabled else None
    return getattr(trigger, "within", None)


def carried_heartbeats(client: Any) -> dict[str, int]:
    """Deployment name → the heartbeat period its runs send, for every deployment tagged
    `stagesweep` on a work pool of the server: the one its job variables carry, else Prefect's
    default (its runs heartbeat at their worker's setting)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    deployments = client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["stagesweep"])), limit=200
    )
    # a deployment without a work pool is served (`stagesweep serve` sets the period of its runs)
    return {
        d.name: carried_heartbeat(d.job_variables) or PREFECT_DEFAULT_HEARTBEAT_SECONDS for d in deployments if d.work_pool_name
    }


def window_heartbeat(client: Any) -> tuple[int, str]:
    """The heartbeat period the zombie automation's window is derived from, and why: stagesweep's
    (`STAGESWEEP_HEARTBEAT_SECONDS`, 30 s by default), or the longest one a stagesweep deployment
    on the server carries when that is longer (a window shorter than a run's heartbeat would
    crash it while it lives)."""
    period = heartbeat_seconds()
    why = f"the {period} s heartbeat stagesweep's runs send ({HEARTBEAT_ENV})"
    slower = {name: p for name, p in carried_heartbeats(client).items() if p > period}
    if slower:
        longest = max(slower.values())
        names = ", ".join(sorted(n for n, p in slower.items() if p == longest))
        why = (
            f"the {longest} s heartbeat of deployment {names}, longer than stagesweep's {period} s "
            f"(redeploy it from deployments/prefect.yaml, then run this again)"
        )
        period = longest
    return period, why


def zombie_automation(spec: dict[str, Any], heartbeat: int | None = None):
    """Prefect's documented automation: a flow run that heartbeats and then neither heartbeats
    nor ends within `missed_heartbeats` periods (of `heartbeat` seconds, stagesweep's period by
    default) is marked Crashed. With `flows:` in the spec, only the runs of those flows (a server's
    other flows may heartbeat less often)."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    window = (heartbeat or heartbeat_seconds()) * int(spec.get("missed_heartbeats", DEFAULT_MISSED_HEARTBEATS))
    flows = spec.get("flows")
    related = ResourceSpecification({"prefect.resource.role": "flow", "prefect.resource.name": list(flows)}) if flows else None
    return Automation(
        name=spec["name"],
        description=f"stagesweep: a flow run with no heartbeat for {window} s is marked Crashed (its process died).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=related or ResourceSpecification({}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=window),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"Flow run marked as crashed: no heartbeat for {window} s (its process died)",
            )
        ],
    )


def notification_automation(spec: dict[str, Any], block_document_id):
    """A failed or crashed run of the named deployments sends the notification."""
    from prefect.automations import Automation
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=spec["name"],
        description="stagesweep: a failed or crashed cleanup or fleet run sends a notification.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification(
                {"prefect.resource.role": "deployment", "prefect.resource.name": list(spec["deployments"])}
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=spec["subject"], body=spec["body"])],
    )


def _canonical(value: Any) -> Any:
    """An automation's JSON with every list of names sorted: a trigger's `after`, `expect` and
    `for_each` are sets, which a process dumps in an order of its own (string hashes differ
    between processes). Lists of anything else (actions) keep their order."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        return sorted(items) if all(isinstance(item, str) for item in items) else items
    return value


def _upsert(client: Any, automation: Any) -> tuple[str, Any]:
    """Create the automation, or update the one of its name; 'created', 'updated' or 'unchanged',
    and the automation found on the server before (None when there was none).

    Only a change is sent: the server gives an updated trigger a new id, and the windows it had
    open (one per running flow run, keyed by the trigger's id) are then never evaluated again —
    a run that died before its next heartbeat would never be marked Crashed."""
    from prefect.events.schemas.automations import AutomationCore

    # the server's update refuses `owner_resource` (Prefect Cloud's), which an automation built
    # here never has: left unset, so the update does not send it
    fields = set(AutomationCore.model_fields) - {"owner_resource"}
    core = AutomationCore(**automation.model_dump(include=fields))
    found = client.read_automations_by_name(core.name)
    if not found:
        client.create_automation(core)
        return "created", None
    current = AutomationCore(**found[0].model_dump(include=fields))
    for extra in found[1:]:  # one of each name
        client.delete_automation(extra.id)
    if _canonical(current.model_dump(mode="json")) == _canonical(core.model_dump(mode="json")):
        return "unchanged", found[0]
    client.update_automation(found[0].id, core)
    return "updated", found[0]


def _webhook_block(spec: dict[str, Any], url: str):
    """The notification block (created or updated); its document id."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    webhook = spec.get("webhook") or {}
    block = CustomWebhookNotificationBlock(
        name=spec["block"],
        url=url,
        method=webhook.get("method", "POST"),
        json_data=webhook.get("json_data") or {"text": "{{subject}}\n{{body}}"},
    )
    return block.save(spec["block"], overwrite=True)


def apply_automations(*, webhook_url: str | None = None, path: str | os.PathLike | None = None) -> list[str]:
    """Create or update stagesweep's automations on the server of PREFECT_API_URL; one line per
    automation saying what was done. The notification needs a webhook URL (the argument, else
    STAGESWEEP_ALERT_WEBHOOK_URL, else an already saved block)."""
    from prefect.client.orchestration import get_client

    spec = load_spec(path)
    done = []
    with get_client(sync_client=True) as client:
        heartbeat, why = window_heartbeat(client)
        zombie = zombie_automation(spec["crash_zombie_runs"], heartbeat)
        what, before = _upsert(client, zombie)
        window = zombie.trigger.within.total_seconds()
        missed = int(spec["crash_zombie_runs"].get("missed_heartbeats", DEFAULT_MISSED_HEARTBEATS))
        previous = getattr(getattr(before, "trigger", None), "within", None)
        was = f", was {previous.total_seconds():g} s" if previous is not None and previous.total_seconds() != window else ""
        done.append(f"{zombie.name}: {what} (no heartbeat for {window:g} s → Crashed{was}; {missed} × {why})")
        notify = spec.get("notify_failed_runs")
        if notify:
            url = webhook_url or os.environ.get(WEBHOOK_ENV)
            block_id = None
            if url:
                block_id = _webhook_block(notify, url)
            else:  # a block of that name saved before (any notification block: Slack, e-mail, ...)
                found = [b for b in client.read_block_documents() if b.name == notify["block"]]
                if found:
                    block_id = found[0].id
                else:
                    done.append(f"{notify['name']}: skipped (set {WEBHOOK_ENV} to a webhook URL to be notified)")
            if block_id is not None:
                automation = notification_automation(notify, block_id)
                done.append(f"{automation.name}: {_upsert(client, automation)[0]} (webhook block {notify['block']})")
    return done


def ensure_automations(logger: Any) -> None:
    """`apply_automations`, best effort: a server that refuses them costs the run nothing."""
    try:
        for line in apply_automations():
            logger.info("automation %s", line)
    except Exception as exc:
        logger.warning("could not create stagesweep's Prefect automations: %s", exc)
