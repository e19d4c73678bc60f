"""werf 1.2 / 2.x cleanup at the size of a busy repository, and the last safety pass."""

from __future__ import annotations

import time
from datetime import timedelta

import pyarrow as pa

from core.plan import build_plan
from core.werf2_rows import make_safe
from tests.core.test_werf2_cleanup import (
    DELETE,
    KEEP,
    NOW,
    R,
    commits,
    custom,
    decide,
    final_inventory,
    import_record,
    inventory,
    kube,
    meta,
    refs,
    rows,
    sid,
    stage,
)


def test_three_thousand_stages_decide_in_well_under_a_second_of_work():
    n = 3000
    stages = [
        stage(f"s{i}", parent=f"s{i - 1}" if i % 10 else None, checksums=[f"sum{i % 300}"] if i % 7 == 0 else [])
        for i in range(n)
    ]
    # children first, as `git rev-list` lists them
    history = commits(*[(f"c{i}", [f"c{i - 1}"] if i else [], NOW - timedelta(hours=n - i)) for i in reversed(range(n))])
    branches = [(f"b{i}", "branch", f"c{n - 1 - 7 * i}", NOW - timedelta(hours=7 * i)) for i in range(50)]
    tags = [(f"v{i}", "tag", f"c{20 * i}", NOW) for i in range(100)]
    repo = inventory(
        stages,
        [meta("app", f"c{i}", f"s{i}") for i in range(n)],
        [custom(f"t{i}", f"s{5 * i}") for i in range(500)],
        [import_record(f"i{i}", f"sum{i}", source=f"s{3 * i}") for i in range(300)],
    )
    workloads = kube(*[f"{R}:{sid(f's{13 * i}')}" for i in range(200)], *[f"{R}:t{i}" for i in range(50)])
    started = time.process_time()
    decisions = decide(
        repo,
        final_inventory(*[f"s{i}" for i in range(0, n, 3)]),
        refs_table=refs(*branches, *tags),
        commits_table=history,
        kube_images=workloads,
    )
    spent = time.process_time() - started
    assert spent < 2.0, f"{spent:.2f} s of CPU (about 0.3 s when the machine is idle)"
    assert rows(decisions)[sid("s2587")] == (KEEP, "used-in-kubernetes")
    assert rows(decisions)[sid("s2586")] == (KEEP, "ancestor")
    build_plan([decisions])


def test_safety_pass_drops_a_delete_of_a_kept_unreadable_or_service_tag():
    repo = inventory([stage("a")], extra_tags=[("sync-server", "sync-server")], unreadable={"lost": "blob unknown"})
    decisions = decide(repo)
    forged = [
        {**decisions.to_pylist()[0], "action": DELETE, "reason": "unused-stage"},
        {**decisions.to_pylist()[0], "tag": "sync-server", "action": DELETE},
        {**decisions.to_pylist()[0], "tag": "lost", "action": DELETE},
        {**decisions.to_pylist()[0], "tag": "lost", "action": KEEP, "reason": "unreadable"},
        {**decisions.to_pylist()[0], "tag": "twice", "action": KEEP, "reason": "keep-list"},
        {**decisions.to_pylist()[0], "tag": "twice", "action": DELETE},
    ]
    safe = make_safe(pa.Table.from_pylist(forged, schema=decisions.schema), [repo])
    assert [(r["tag"], r["action"]) for r in safe.to_pylist()] == [
        (sid("a"), DELETE),
        ("lost", KEEP),
        ("twice", KEEP),
    ]
