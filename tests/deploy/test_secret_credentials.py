"""Credentials by reference on a real Prefect server: a deployment run and a fleet on a work pool
whose projects name a kubeconfig and a registry token held in Prefect Secret blocks. The worker
has neither (an empty Docker config, no kubeconfig); each run reads the blocks itself, the fake
Kubernetes API and the registry (which demands that token) see the right credential, and
afterwards nothing the server keeps — flow and task runs, their parameters, deployments,
artifacts, logs, variables, events, the database's own bytes — nor the audit holds the
credentials' bytes or their base64."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from adapters.audit import read_audit
from tests.adapters.registry.proxy import RegistryProxy
from tests.deploy.helpers import api_client, flow_run_logs, wait_for_final_state
from tests.deploy.server import BIN, PROJECT_ROOT, PrefectServer, stop_process
from tests.e2e.test_fleet import fleet_world
from tests.e2e.test_secrets import secret_forms, write_docker_config
from tests.fixtures.kube_server import kubeconfig_document, workload

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.slow]

POOL = "secret-credentials"
KINDS_PATH = "/apis/apps/v1/deployments"


def save_secrets(server: PrefectServer, blocks: dict[str, object]) -> None:
    """Prefect Secret blocks on `server`, as an operator makes them."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        for name, value in blocks.items():
            Secret(value=value).save(name, overwrite=True)


def register_deployment(server: PrefectServer, settings: dict) -> str:
    """A deployment of the cleanup flow on the pool whose parameters name the Secret blocks; its id."""
    from prefect.deployments.runner import EntrypointType
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cleanup import cleanup

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        deployment = cleanup.to_deployment(
            name="by-reference",
            work_pool_name=POOL,
            entrypoint_type=EntrypointType.MODULE_PATH,
            parameters={"settings": settings},
        )
        return str(deployment.apply(work_pool_name=POOL))


def everything_the_server_keeps(server: PrefectServer, since: datetime) -> dict[str, str]:
    """Place → its text, for what the server keeps of the runs since `since`: the flow runs
    (parameters, job variables, states), their task runs, artifacts and log lines, every
    deployment and variable, the events since then; and the server's database itself (a dump of
    PostgreSQL's, the files of SQLite's: block values are stored encrypted, anything else plain)."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterFlowRunId,
    )

    places: dict[str, str] = {}
    with api_client(server) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)))
        ids = [r.id for r in runs]
        places["flow runs"] = "\n".join(r.model_dump_json() for r in runs)
        task_runs, offset = [], 0
        while page := client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=200, offset=offset
        ):
            task_runs += page
            offset += len(page)
        places["task runs"] = "\n".join(t.model_dump_json() for t in task_runs)
        places["deployments"] = "\n".join(d.model_dump_json() for d in client.read_deployments())
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids)))
        places["artifacts"] = "\n".join(a.model_dump_json() for a in artifacts)
        places["variables"] = "\n".join(v.model_dump_json() for v in client.read_variables())
        logs, offset = [], 0
        while page := client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200, offset=offset):
            logs += page
            offset += len(page)
        places["logs"] = "\n".join(log.message for log in logs)
    window = {"since": since.isoformat(), "until": (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()}
    events, url, body = [], f"{server.api_url}/events/filter", json.dumps({"filter": {"occurred": window}, "limit": 50})
    while url:
        data = body.encode() if body else None
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            page = json.loads(answer.read())
        events += page["events"]
        url, body = page.get("next_page"), None
    places["events"] = json.dumps(events)
    places["database"] = database_text(server)
    places["results"] = "\n".join(
        p.read_bytes().decode("latin-1") for p in (Path(server.home) / "storage").rglob("*") if p.is_file()
    )
    assert len(runs) >= 4 and task_runs and logs and events and artifacts, "the server keeps runs, logs, events and artifacts"
    assert places["database"], "the server's database"
    return places


def database_text(server: PrefectServer) -> str:
    """The server's database as text: `pg_dump` of its PostgreSQL database, or its SQLite files."""
    if server.database_url:
        from tests.fixtures.postgres import postgres_bin

        url = urllib.parse.urlsplit(server.database_url)
        dump = subprocess.run(
            [str(postgres_bin() / "pg_dump"), "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432)]
            + ["-U", url.username or "postgres", "-d", url.path.lstrip("/")],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=300,
            check=True,
        )
        return dump.stdout
    return "\n".join(p.read_bytes().decode("latin-1") for p in Path(server.home).glob("*.db*") if p.is_file())


def test_a_deployment_run_and_a_pool_fleet_take_kubeconfig_and_token_from_secret_blocks_and_the_server_keeps_neither(
    prefect_server, registry, kube_server, tmp_path, monkeypatch
):
    since = datetime.now(timezone.utc)
    suffix = uuid.uuid4().hex[:8]
    sweeper, token = "sweeper", f"registry-token-{uuid.uuid4().hex}"
    kube_token = f"kube-token-{uuid.uuid4().hex}"
    proxy = RegistryProxy(registry.host, users={sweeper: token, "pusher": "push-" + suffix}).__enter__()
    try:
        # the worlds are built (and read back) by this process as `pusher`; no run gets its Docker config
        monkeypatch.setenv("DOCKER_CONFIG", write_docker_config(tmp_path / "pusher", proxy.host, "pusher", "push-" + suffix))
        names = ["deployed", "north", "south"]
        worlds, fleet = fleet_world(registry, f"tests/by-reference-{suffix}", tmp_path, names, host=proxy.host)
        for world, facts in worlds.values():  # each cluster runs the image of its deleted branch
            image = f"{world.images_address}/app:{facts['f1']}"
            kube_server.objects.setdefault((kube_token, KINDS_PATH), []).append(
                workload("Deployment", f"web-{world.project}", containers={"web": image})
            )
        kube_server.tokens.add(kube_token)
        kubeconfig = yaml.safe_dump(kubeconfig_document(kube_server.url, ["prod"], tokens=lambda _: kube_token), sort_keys=False)
        blocks = {"kube": f"kubeconfig-{suffix}", "registry": f"registry-{suffix}"}
        save_secrets(prefect_server, {blocks["kube"]: kubeconfig, blocks["registry"]: {"username": sweeper, "password": token}})
        by_reference = {
            "insecure_registry": True,
            "kube_config_secret": blocks["kube"],
            "registry_secret": [f"{proxy.host}={blocks['registry']}"],
        }

        runs_tmp = tmp_path / "runs-tmp"  # where the runs make their private Docker configs
        runs_tmp.mkdir()
        env = prefect_server.env(
            HOME=str(tmp_path / "worker-home"),
            DOCKER_CONFIG=str(tmp_path / "no-docker-config"),
            KUBECONFIG=str(tmp_path / "no-kubeconfig"),
            TMPDIR=str(runs_tmp),
            PREFECT_WORKER_QUERY_SECONDS="1",
            STAGESWEEP_PREFECT_SERVER_AUTOSTART="false",
        )
        prefect_server.run(str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process", env=env)
        deployed = fleet["projects"].pop(0)
        deployment_id = register_deployment(
            prefect_server,
            {
                **by_reference,
                "git_url": deployed["git"],
                "images_repo": deployed["images_repo"],
                "stages_storage": deployed["stages_storage"],
                "audit_dir": str(tmp_path / "audit" / "project=deployed"),
            },
        )
        fleet["defaults"] = by_reference
        fleet["registries"] = {}
        path = tmp_path / "fleet.yaml"
        path.write_text(yaml.safe_dump(fleet))

        worker_log = tmp_path / "worker.log"
        worker = prefect_server.spawn(
            str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "3", env=env, log=worker_log
        )
        try:
            with api_client(prefect_server) as client:
                run = client.create_flow_run_from_deployment(deployment_id)
            fleet_run = subprocess.run(
                [
                    str(BIN / "stagesweep"),
                    "fleet",
                    "cleanup",
                    str(path),
                    "--work-pool",
                    POOL,
                    "--audit-dir",
                    str(tmp_path / "audit"),
                ],
                env=env,
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            with api_client(prefect_server) as client:
                finished = wait_for_final_state(client, run.id, logs=lambda: worker_log.read_text(errors="replace")[-4000:])
                assert finished.state.is_completed(), f"{finished.state}\n{flow_run_logs(client, run.id)}"
        finally:
            stop_process(worker)
        output = fleet_run.stdout + fleet_run.stderr
        assert fleet_run.returncode == 0, output + worker_log.read_text(errors="replace")[-4000:]

        # each run got both: the cluster's image stayed (the kubeconfig), the rest of the branch went (the token)
        audit = read_audit(str(tmp_path / "audit")).to_pandas()
        assert set(audit.project) == set(names)
        for name, (world, facts) in worlds.items():
            tags = world.image_tags()
            assert facts["f1"] in tags and "feature" not in tags, name
            rows = audit[(audit.project == name) & (audit.tag == facts["f1"]) & (audit.item_type == "image-tag")]
            assert rows.reason.tolist() == ["used-in-kubernetes"], name
        assert audit.run_id.nunique() == 3
        assert kube_server.requests[(kube_token, KINDS_PATH)] >= 3
        scopes = {scope for request in proxy.state.token_requests if request["user"] == sweeper for scope in request["scopes"]}
        for name in names:  # the registry gave each project's deletes to the block's user
            assert any(f"/{name}/images/" in s and s.endswith(":delete") for s in scopes), (name, scopes)
        assert {r["user"] for r in proxy.state.token_requests} <= {sweeper, "pusher"}
        assert not list(runs_tmp.glob("stagesweep-docker-config-*")), "each run's Docker config went with it"

        # the server and the audit keep no credential's bytes
        secrets = secret_forms(sweeper, token) | set(proxy.state.grants) | {kube_token, kubeconfig}
        secrets |= {base64.b64encode(kubeconfig.encode()).decode(), base64.b64encode(kube_token.encode()).decode()}
        places = everything_the_server_keeps(prefect_server, since)
        places["audit"] = audit.to_csv() + "".join(str(read_run_metadata_of(p)) for p in (tmp_path / "audit").rglob("*.parquet"))
        places["fleet run's output"] = output
        places["worker's output"] = worker_log.read_text(errors="replace")
        for place, text in places.items():
            for secret in secrets:
                assert secret not in text, f"a credential ({secret[:6]}…) is in the {place}"
        assert blocks["kube"] in places["flow runs"] and blocks["registry"] in places["deployments"], "the names travel"
        assert blocks["registry"] in places["database"], "the dump holds the server's plain text"
    finally:
        proxy.__exit__(None, None, None)


def read_run_metadata_of(path: Path) -> dict:
    import pyarrow.parquet as pq

    return dict(pq.read_metadata(path).metadata or {})
