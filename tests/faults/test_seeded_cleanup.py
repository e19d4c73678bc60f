"""`stagesweep cleanup` through a seeded fault proxy in front of the real registry (and, for some
seeds, one in front of the fake Kubernetes API): 5xx, 429 with Retry-After, connection resets
mid-answer, truncated and short bodies, slow answers on GETs, HEADs and DELETEs.

Each seed is its own test (`-k seed_7` replays seed 7); every assertion message starts with the
seed and its fault profile. The endings allowed are those of tests/faults/harness.py.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.e2e.world import ago, basic_world, registry_world
from tests.faults.harness import (
    Outcome,
    Plan,
    check_deletes_within_plan,
    check_outcome,
    expected_end,
    registry_state,
    tags_of,
)
from tests.fixtures.fault_proxy import FaultProfile, FaultProxy

pytestmark = [pytest.mark.slow, pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]

SEEDS = list(range(20))
#: seeds that end in a known product bug (see tests/faults/test_partial_batch.py, which holds it
#: deterministically)
KNOWN_BUGS: dict[int, str] = {}  # seed -> a bug it shows that is not fixed yet (strict xfail)


def profile_for(seed: int) -> tuple[FaultProfile, FaultProfile | None, int]:
    """The registry's fault profile, the Kubernetes API's (or None: --without-kube) and
    --parallel-tasks-limit, all derived from the seed."""
    rng = random.Random(f"profile-{seed}")
    read = rng.choice([0.02, 0.05, 0.1])
    delete = rng.choice([0.1, 0.3, 0.6])
    registry = FaultProfile(seed, rates={"GET": read, "HEAD": read, "DELETE": delete}, retry_after=1, slow_seconds=0.1)
    kube = FaultProfile(seed, rates={"GET": rng.choice([0.05, 0.15])}, retry_after=1, slow_seconds=0.1) if seed % 3 == 0 else None
    parallel = 1 if seed % 2 == 0 else 4
    return registry, kube, parallel


def fault_world(world) -> dict:
    """`basic_world` plus a second branch gone from origin (two commits, an image each, one of
    them with a rejected stage), so the plan has tags, metadata, stages and a marker to delete."""
    w = basic_world(world)
    g = world.git
    o1 = g.commit("old", ago(days=5), parents=[w["c1"]])
    o2 = g.commit("old", ago(days=4))
    with world.publisher() as pub:
        o = pub.build("app", built_at=ago(days=5), base=w["A"], reuse=1)
        p = pub.build("app", built_at=ago(days=4), base=o, reuse=2)
        broken = pub.build("app", built_at=ago(days=4), n_stages=1)
        pub.reject(broken.stages[0])
        pub.publish(o, o1, o1)
        pub.publish(p, o2, o2)
        pub.publish(p, "old", o2)
    g.push()
    g.delete_origin_branch("old")
    return {**w, "o1": o1, "o2": o2, "O": o, "P": p}


@pytest.fixture
def kube_proxy(kube_server):
    proxy = FaultProxy(kube_server.url.split("://", 1)[1])
    yield proxy
    proxy.close()


@pytest.mark.parametrize(
    "seed",
    [pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[s])) if s in KNOWN_BUGS else s for s in SEEDS],
    ids=[f"seed_{s}" for s in SEEDS],
)
def test_cleanup_under_seeded_faults_ends_safely(
    seed, git_project, registry, fault_proxy, kube_server, kube_proxy, kubeconfig_factory, unique_repo, tmp_path
):
    profile, kube_profile, parallel = profile_for(seed)
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    w = fault_world(world)
    args = ["--parallel-tasks-limit", str(parallel), "--batch-size", "3"]
    if kube_profile is not None:
        # a workload pins image F by digest: its tags and stages must survive any listing fault
        digests = {r["tag"]: r["digest"] for r in world.images().list_image_tags(["app"]).to_pylist()}
        kube_server.add("prod", "Deployment", "web", containers={"web": f"{world.images_address}/app@{digests[w['f1']]}"})
        kube_server.add("prod", "Pod", "other", containers={"x": "nginx:1.25"})
        config = kubeconfig_factory(["prod"], server_url=f"http://{kube_proxy.host}")
        args += ["--kube-config", str(config)]
    else:
        args += ["--without-kube"]
    why = f"{profile.describe()}; parallel={parallel}; kube {kube_profile.describe() if kube_profile else 'off'}"

    before = registry_state(registry, unique_repo)
    dry = world.cleanup("cleanup", *args, "--dry-run")
    assert dry.exit_code == 0, f"[{why}] the fault-free dry run failed:\n{dry.output}"
    plan = Plan.of_dry_run(world.last_audit())
    assert plan.rows > 0, f"[{why}] the world gives the cleanup nothing to delete"
    if kube_profile is not None:
        assert w["f1"] not in {t for _, t in plan.deletes}, f"[{why}] the pinned image is planned"

    fault_proxy.seed(profile)
    if kube_profile is not None:
        kube_proxy.seed(kube_profile)
    result = world.cleanup("cleanup", *args)
    fault_proxy.heal()
    kube_proxy.heal()
    injected = Counter(f for *_, f in fault_proxy.log + kube_proxy.log if f)
    why += f"; injected {dict(injected)} over {len(fault_proxy.log)} registry requests; exit {result.exit_code}"

    print(why)  # shown with -rA: which ending each seed reached
    audits = world.audits()
    assert len(audits) == 2, f"[{why}] expected one audit file for the faulty run, found {len(audits) - 1}"
    audit = world.last_audit()  # it reads back
    assert set(audit.dry_run) <= {False}, f"[{why}] the faulty run's audit is not its own"
    outcome = Outcome(why, result.exit_code, result.output, before, registry_state(registry, unique_repo), plan, audit)
    check_outcome(outcome)

    if result.exit_code == 3:
        rerun = world.cleanup("cleanup", *args)
        assert rerun.exit_code == 0, f"[{why}] the rerun without faults failed:\n{rerun.output}"
        after_rerun = tags_of(registry_state(registry, unique_repo))
        assert after_rerun == expected_end(before, plan), (
            f"[{why}] the rerun without faults did not reach the fault-free end state: "
            f"left {sorted(after_rerun - expected_end(before, plan))}, gone {sorted(expected_end(before, plan) - after_rerun)}"
        )
    check_deletes_within_plan(why, fault_proxy.forwarded_deletes(), plan)
