"""Registry credentials never leave the Docker config they came from: not on stdout or stderr,
not in the Prefect run logs, artifacts or flow-run parameters, not in the audit, not in the
results Prefect stores, and not in the message of a run the registry refused — for Basic auth
(htpasswd) and for a Bearer token service. The same for credentials by reference: a registry token
and a kubeconfig in Prefect Secret blocks that the options name; a block that is not there stops
the run before any delete; the Docker config made from blocks is private and goes with the run."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.adapters.registry.proxy import RegistryProxy
from tests.e2e.world import basic_world, registry_world
from tests.fixtures.kube_server import kubeconfig_document, workload

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def write_docker_config(directory: Path, host: str, user: str, password: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return str(directory)


def secret_forms(user: str, password: str) -> set[str]:
    return {password, base64.b64encode(f"{user}:{password}".encode()).decode(), f"{user}:{password}"}


@pytest.fixture
def info_logs_to_api():
    """Prefect's run loggers at INFO for this test (the session's test API runs at WARNING), so
    every line a run logs reaches the API, as it does from the CLI."""
    logger = logging.getLogger("prefect")
    saved = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(saved)


@pytest.fixture(params=["basic", "bearer"])
def secured(request, git_project, registry, auth_registry, unique_repo, tmp_path):
    """(world, secrets, tokens): a world on a registry that demands credentials, which only its
    Docker config dir holds."""
    if request.param == "basic":
        host, user, password, proxy = auth_registry.host, auth_registry.username, auth_registry.password, None
        options_of = auth_registry.options
        world = registry_world(git_project, auth_registry, unique_repo, tmp_path)
    else:
        user, password = "sweeper", "bearer-" + uuid.uuid4().hex
        proxy = RegistryProxy(registry.host, users={user: password}).__enter__()
        request.addfinalizer(lambda: proxy.__exit__(None, None, None))
        host, options_of = proxy.host, registry.options
        world = registry_world(git_project, registry, unique_repo, tmp_path, host=proxy.host)
    config_dir = write_docker_config(tmp_path / "docker", host, user, password)
    world.options = options_of(docker_config=config_dir)
    world.extra_args = ["--insecure-registry", "--docker-config", config_dir]
    world.state = basic_world(world)
    world.user, world.password, world.proxy, world.config_dir = user, password, proxy, config_dir
    return world


def prefect_records(run_ids: set[str]) -> str:
    """Everything Prefect holds about these flow runs: logs, artifacts, parameters, states."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    ids = [uuid.UUID(r) for r in run_ids]
    parts: list[str] = []
    with get_client(sync_client=True) as client:
        for flow_run_id in ids:
            run = client.read_flow_run(flow_run_id)
            parts.append(json.dumps(run.parameters, default=str))
            parts.append(str(run.state.message) + str(run.state))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200)
        parts += [log.message for log in logs]
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids)))
        parts += [json.dumps(a.data, default=str) + str(a.description) for a in artifacts]
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
        parts += [str(t.state.message) + json.dumps(t.task_inputs, default=str) for t in task_runs]
    text = "\n".join(parts)
    assert logs and artifacts, "the runs left logs and artifacts to search"
    return text


def stored_results() -> str:
    """The bytes of every result Prefect persisted in this session (its local storage)."""
    root = Path(os.environ["PREFECT_HOME"]) / "storage"
    return "\n".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()) if root.exists() else ""


def assert_nowhere(secrets: set[str], **places: str) -> None:
    for name, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a credential ({secret[:4]}…) appears in {name}"


def test_no_credential_escapes_any_command(secured, tmp_path, info_logs_to_api):
    world = secured
    common = ["--insecure-registry", "--docker-config", world.config_dir]
    stages = ["--stages-storage", world.stages_address, "--dir", str(world.git.work)]
    audit = ["--audit-dir", str(world.audit_dir)]
    results = [world.cleanup("cleanup", "--without-kube", "--dry-run")]
    reviewed = str(world.audits()[-1])
    results += [
        world.cli("apply", reviewed, "--without-kube", "--dir", str(world.git.work), *audit, *common),
        world.cleanup("images cleanup", "--without-kube"),
        world.cleanup("stages cleanup"),
        world.cli("managed-images", "add", "extra", *stages, *common),
        world.cli("managed-images", "ls", *stages, *common),
        world.cli("managed-images", "rm", "extra", *stages, *audit, *common),
        world.cleanup("images purge"),
        world.cli("stages", "purge", *stages, *audit, *common),
        world.cleanup("purge"),
        world.cli("report", str(world.audit_dir)),
    ]
    for result in results:
        assert result.exit_code == 0, result.output
    assert "extra" in results[5].output
    assert not world.stage_tags()  # the purges really ran with those credentials
    # a registry that refuses the credentials: 401, one message, no credential in it, also with --debug
    wrong = "wrong-" + uuid.uuid4().hex
    bad_dir = write_docker_config(tmp_path / "bad-docker", world.stages_address.split("/")[0], world.user, wrong)
    refused = [
        world.cli(
            "cleanup",
            "--images-repo",
            world.images_address,
            *stages,
            *audit,
            "--without-kube",
            "--insecure-registry",
            "--docker-config",
            bad_dir,
        ),
        world.cli("--debug", "stages", "purge", *stages, *audit, "--insecure-registry", "--docker-config", bad_dir),
    ]
    for result in refused:
        assert result.exit_code == 1, result.output
        assert "401" in result.output or "unauthorized" in result.output.lower() or "credential" in result.output.lower()

    secrets = secret_forms(world.user, world.password) | secret_forms(world.user, wrong)
    if world.proxy is not None:
        tokens = set(world.proxy.state.grants)
        assert tokens, "the bearer registry issued tokens"
        secrets |= tokens
    outputs = "\n".join(r.output + (r.stderr if r.stderr_bytes else "") for r in results + refused)
    run_ids = {p.stem for p in world.audit_dir.rglob("*.parquet")}
    run_ids |= set(RUN_ID.findall(outputs))
    assert len(run_ids) >= 10  # every deleting run, the refused ones too
    audit_text = "\n".join(pq.read_table(p).to_pandas().to_csv() for p in world.audit_dir.rglob("*.parquet"))
    assert_nowhere(
        secrets,
        output=outputs,
        audit=audit_text,
        prefect=prefect_records(run_ids),
        results=stored_results(),
    )


# ------------------------------------------------------------------ credentials by reference


def save_secret(name: str, value) -> None:
    """A Prefect Secret block on the session's API, as an operator makes one."""
    from prefect.blocks.system import Secret

    Secret(value=value).save(name, overwrite=True)


@pytest.fixture
def by_reference(git_project, registry, unique_repo, tmp_path, kube_server):
    """A world on a registry that demands a token, and a cluster whose one workload runs the image
    of the deleted branch (f1); the registry's credentials and the kubeconfig are in Prefect Secret
    blocks only — this process's Docker config dir serves the pushes that build the world."""
    import flows.cleanup  # noqa: F401  Prefect sets its loggers up as the flows load: before `info_logs_to_api`

    user, token = "sweeper", "tok-" + uuid.uuid4().hex
    proxy = RegistryProxy(registry.host, users={user: token}).__enter__()
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=proxy.host)
    world.options = registry.options(docker_config=write_docker_config(tmp_path / "pusher", proxy.host, user, token))
    world.state = basic_world(world)
    kube_token = "kube-" + uuid.uuid4().hex
    kube_server.tokens.add(kube_token)
    image = f"{world.images_address}/app:{world.state['f1']}"
    kube_server.objects.setdefault((kube_token, "/apis/apps/v1/deployments"), []).append(
        workload("Deployment", "web", containers={"web": image})
    )
    kubeconfig = yaml.safe_dump(kubeconfig_document(kube_server.url, ["prod"], tokens=lambda _: kube_token), sort_keys=False)
    suffix = uuid.uuid4().hex[:8]
    world.blocks = {"registry": f"registry-{suffix}", "kube": f"kubeconfig-{suffix}"}
    save_secret(world.blocks["registry"], {"username": user, "password": token})
    save_secret(world.blocks["kube"], kubeconfig)
    world.user, world.token, world.proxy, world.kube_token, world.kubeconfig = user, token, proxy, kube_token, kubeconfig
    yield world
    proxy.__exit__(None, None, None)


def reference_args(world) -> list[str]:
    host = world.stages_address.split("/")[0]
    return ["--registry-secret", f"{host}={world.blocks['registry']}", "--kube-config-secret", world.blocks["kube"]]


def test_a_cleanup_takes_its_token_and_kubeconfig_from_secret_blocks_and_no_value_escapes(
    by_reference, kube_server, tmp_path, info_logs_to_api
):
    world = by_reference
    env = {"DOCKER_CONFIG": str(tmp_path / "empty-docker-config"), "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    dry = world.cleanup("cleanup", *reference_args(world), "--dry-run", env=env)
    real = world.cleanup("cleanup", *reference_args(world), env=env)

    for result in (dry, real):
        assert result.exit_code == 0, result.output
    tags = world.image_tags()
    assert world.state["f1"] in tags, "the image the cluster runs stays: the kubeconfig of the block was used"
    assert "feature" not in tags, "the deletes went through with the block's token"
    assert kube_server.requests[(world.kube_token, "/apis/apps/v1/deployments")] >= 2
    assert {r["user"] for r in world.proxy.state.token_requests} == {world.user}
    kept = world.last_audit()
    assert kept[(kept.tag == world.state["f1"]) & (kept.item_type == "image-tag")].reason.tolist() == ["used-in-kubernetes"]

    outputs = dry.output + real.output
    run_ids = {p.stem for p in world.audit_dir.rglob("*.parquet")} | set(RUN_ID.findall(outputs))
    audit_text = "\n".join(pq.read_table(p).to_pandas().to_csv() for p in world.audit_dir.rglob("*.parquet"))
    audit_text += "\n".join(str(pq.read_metadata(p).metadata) for p in world.audit_dir.rglob("*.parquet"))
    secrets = secret_forms(world.user, world.token) | set(world.proxy.state.grants)
    secrets |= {world.kube_token, world.kubeconfig, base64.b64encode(world.kubeconfig.encode()).decode()}
    wait_for_logs(run_ids)
    assert_nowhere(secrets, output=outputs, audit=audit_text, prefect=prefect_records(run_ids), results=stored_results())


def wait_for_logs(run_ids: set[str], timeout: float = 30.0) -> None:
    """Until the API has the runs' log lines (they are sent in batches, after the run)."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        ids = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(r) for r in run_ids]))
        while not client.read_logs(ids, limit=1) and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.mark.parametrize("which", ["registry", "kube"])
def test_a_block_that_is_not_there_stops_the_run_before_any_delete_naming_it(by_reference, tmp_path, which):
    world = by_reference
    world.blocks[which] = "nowhere-" + uuid.uuid4().hex[:8]
    before = world.image_tags()

    result = world.cleanup("cleanup", *reference_args(world), env={"DOCKER_CONFIG": str(tmp_path / "empty")})

    assert result.exit_code == 1, result.output
    assert f"no Prefect Secret block named '{world.blocks[which]}'" in result.output
    assert ("registry_secret" if which == "registry" else "kube_config_secret") in result.output
    assert "prefect block create secret" in result.output and "Traceback" not in result.output
    assert world.image_tags() == before
    # the registry's block is read as the command names each storage's implementation, before its run
    # starts; the kubeconfig's as the run lists the clusters, before it deletes
    for audit in world.audits():
        assert set(pq.read_table(audit).column("outcome").to_pylist()) <= {"blocked", "kept"}


def test_the_docker_config_made_from_blocks_is_private_and_goes_with_the_run(prefect_api, tmp_path, monkeypatch):
    from coordination import credentials
    from schemas.settings import CleanupSettings

    base = write_docker_config(tmp_path / "base", "other.example.com", "me", "base-password")
    suffix = uuid.uuid4().hex[:8]
    save_secret(f"ghcr-{suffix}", f"bot:ghp-{suffix}")
    save_secret(f"docker-{suffix}", json.dumps({"auths": {"quay.io": {"auth": "cXVheTpwdw=="}}}))
    own = CleanupSettings(stages_storage="x/y", docker_config=base, registry_secret=[f"ghcr.io=ghcr-{suffix}"])
    whole = CleanupSettings(
        stages_storage="x/y", docker_config_secret=f"docker-{suffix}", registry_secret=[f"ghcr.io=ghcr-{suffix}"]
    )

    made = [credentials.docker_config_dir(own), credentials.docker_config_dir(whole)]

    assert credentials.docker_config_dir(own) == made[0], "made once per run"
    for directory in made:
        assert os.stat(directory).st_mode & 0o777 == 0o700
        assert os.stat(Path(directory) / "config.json").st_mode & 0o777 == 0o600
    first, second = (json.loads((Path(d) / "config.json").read_text())["auths"] for d in made)
    assert set(first) == {"other.example.com", "ghcr.io"} and set(second) == {"quay.io", "ghcr.io"}
    assert base64.b64decode(first["ghcr.io"]["auth"]).decode() == f"bot:ghp-{suffix}"
    # a credentials store keeps the hosts it holds, not the one a block gives
    stored = tmp_path / "stored"
    stored.mkdir()
    (stored / "config.json").write_text(json.dumps({"credsStore": "desktop", "auths": {"ghcr.io": {}, "quay.io": {}}}))
    made.append(credentials.docker_config_dir(own.model_copy(update={"docker_config": str(stored)})))
    third = json.loads((Path(made[-1]) / "config.json").read_text())
    assert "credsStore" not in third and third["credHelpers"] == {"quay.io": "desktop"} and "auth" in third["auths"]["ghcr.io"]
    credentials.release()
    assert not any(Path(d).exists() for d in made)


def test_a_fleet_project_naming_a_block_that_is_not_there_is_not_started_and_says_what_to_do(prefect_api):
    from schemas.settings import CleanupSettings
    from tasks.fleet import check_secret_blocks

    present, absent = f"kubeconfig-{uuid.uuid4().hex[:8]}", f"absent-{uuid.uuid4().hex[:8]}"
    save_secret(present, "apiVersion: v1\ncontexts: []\n")
    runs = {
        "ready": CleanupSettings(stages_storage="r/s", kube_config_secret=present),
        "unready": CleanupSettings(stages_storage="r/s", kube_config_secret=present, registry_secret=[f"ghcr.io={absent}"]),
        "plain": CleanupSettings(stages_storage="r/s"),
    }

    problems = check_secret_blocks.fn(runs)

    assert list(problems) == ["unready"]
    assert f"no Prefect Secret block named {absent!r}" in problems["unready"] and "registry_secret" in problems["unready"]
    assert "prefect block create secret" in problems["unready"] and present not in problems["unready"]
