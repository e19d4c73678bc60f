"""Faults that are not random: Bearer tokens that expire in the middle of a run, a Kubernetes
listing that fails on its second `continue` page, and a rate-limited read whose Retry-After the
retried task waits for."""

from __future__ import annotations

import base64
import json

import pytest

from tests.adapters.registry.proxy import RegistryProxy
from tests.e2e.world import basic_world, registry_world
from tests.faults.harness import Plan, check_deletes_within_plan, expected_end, registry_state, tags_of
from tests.fixtures.fault_proxy import SLOW, FaultProfile, FaultProxy

pytestmark = [pytest.mark.slow, pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]

USER, PASSWORD = "ci", "token-service-secret"


@pytest.fixture
def token_chain(registry):
    """client → fault proxy → Bearer-token registry proxy (realm on its own port) → registry.
    Tokens are announced for 60 s but the registry accepts each for 2 s only."""
    with RegistryProxy(registry.host, users={USER: PASSWORD}, token_lifetime=60, token_valid_for=2.0) as tokens:
        front = FaultProxy(tokens.host)
        yield front, tokens
        front.close()


def test_tokens_expiring_mid_run_are_renewed_transparently(git_project, registry, token_chain, unique_repo, tmp_path):
    front, tokens = token_chain
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {front.host: {"auth": auth}}}))
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=front.host)
    world.options = registry.options(docker_config=str(config))
    w = basic_world(world)
    args = ["--without-kube", "--docker-config", str(config), "--parallel-tasks-limit", "2", "--batch-size", "2"]
    before = registry_state(registry, unique_repo)
    dry = world.cleanup("cleanup", *args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    plan = Plan.of_dry_run(world.last_audit())
    issued = len(tokens.token_requests)
    # slow answers stretch the run over several token lifetimes
    front.seed(FaultProfile(0, rates={"GET": 0.3, "HEAD": 0.3, "DELETE": 0.3}, kinds=(SLOW,), slow_seconds=0.3))
    result = world.cleanup("cleanup", *args)
    front.heal()
    assert result.exit_code == 0, result.output
    assert tags_of(registry_state(registry, unique_repo)) == expected_end(before, plan)
    assert w["f1"] not in world.image_tags()
    renewals = len(tokens.token_requests) - issued
    assert renewals > 3, f"only {renewals} tokens were issued: no token expired during the run"
    check_deletes_within_plan("token expiry", front.forwarded_deletes(), plan)


def test_kube_listing_failing_on_its_second_continue_page_stops_before_deleting(
    git_project, registry, kube_server, kubeconfig_factory, unique_repo, tmp_path
):
    world = registry_world(git_project, registry, unique_repo, tmp_path)
    basic_world(world)
    for n in range(4):
        kube_server.add("prod", "Deployment", f"web-{n}", containers={"web": f"nginx:1.{n}"})
    kube_server.fail_continue_page("prod", "Deployment", nth=2, status=500, page_size=1)
    before = registry_state(registry, unique_repo)
    result = world.cleanup("cleanup", "--kube-config", str(kubeconfig_factory(["prod"])))
    assert result.exit_code == 1, result.output
    assert "prod" in result.output and "Deployment" in result.output, result.output
    assert registry_state(registry, unique_repo) == before
    assert kube_server.continue_requests[(kube_server.token_for("prod"), "/apis/apps/v1/deployments")] == 2
    assert world.audits(), "a stopped run still writes its audit"


def test_rate_limited_read_is_retried_after_its_retry_after(git_project, registry, fault_proxy, unique_repo, tmp_path):
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    w = basic_world(world)
    fault_proxy.fault_headers = {"Retry-After": "2"}
    limited: list[str] = []

    def first_manifest_reads(method: str, count: int, path: str) -> int | None:
        if method in ("GET", "HEAD") and "/manifests/" in path and len(limited) < 2:
            limited.append(path)
            return 429
        return None

    fault_proxy.rule = first_manifest_reads
    times: list[tuple[str, str, float]] = []
    original = fault_proxy.seed  # record arrival times of every request via a no-fault profile
    seeded = original(FaultProfile(0, rates={}))
    import time as _time

    decide = seeded.decide

    def timed(method: str, path: str):
        times.append((method, path, _time.monotonic()))
        return decide(method, path)

    seeded.decide = timed
    result = world.cleanup("images cleanup", "--without-kube", "--parallel-tasks-limit", "1")
    fault_proxy.heal()
    assert result.exit_code == 0, result.output
    assert w["f1"] not in world.image_tags()
    path = limited[-1]
    arrivals = [t for m, p, t in times if p == path]
    assert len(arrivals) >= 2, arrivals
    assert arrivals[1] - arrivals[0] >= 2.0, f"retried {arrivals[1] - arrivals[0]:.2f}s after a 429 asking for 2s"
