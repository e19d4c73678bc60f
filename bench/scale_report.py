"""What ``cleanup_scale.py`` measured: the registry's requests counted by kind (from its access
log) and the report of every run against the raw reads and raw DELETEs.
"""

from __future__ import annotations

import statistics
from collections import Counter

#: the request that splits the access log (the child sends it before its deletion phase)
MARKER = "/v2/stagesweep-bench/marker/tags/list"
KINDS = ("tag list", "manifest GET", "manifest HEAD", "blob GET", "blob HEAD", "DELETE", "write", "other")


def kind_of(method: str, path: str) -> str:
    if method in ("PUT", "POST", "PATCH"):
        return "write"
    if method == "DELETE":
        return "DELETE"
    if path.endswith("/tags/list") or "/tags/list?" in path:
        return "tag list"
    if "/manifests/" in path:
        return f"manifest {method}"
    if "/blobs/" in path:
        return f"blob {method}"
    return "other"


def count(requests) -> Counter:
    return Counter(kind_of(m, p) for m, p, _ in requests if not p.startswith(MARKER) and p != "/v2/")


# ---------------------------------------------------------------------------------- report
def report(
    args,
    werf_tags: int,
    raw_read: float,
    raw_delete,
    runs: dict,
    counts: dict,
    cold_rounds: list[dict] | None = None,
    loads: list[tuple[float, float, float]] | None = None,
) -> None:
    reads = 2 * werf_tags
    print(
        f"\nraw reads (http.client, {args.read_threads} threads): {reads} GETs in {raw_read:.1f} s = {reads / raw_read:.0f} req/s"
    )
    header = f"{'run':<40} {'wall s':>7} {'peak MiB':>8} {'requests':>8} {'per tag':>7}  " + "  ".join(f"{k}" for k in KINDS[:6])
    print(header)
    names = (
        ["dry run, cold", "dry run, cold, baseline tree"]
        + [f"dry run, {label}{how}" for label in ("warm", "no cache") for how in ("", ", tasks called directly")]
        + ["cleanup"]
    )
    for name in names:
        if name not in runs:
            continue
        run, c = runs[name], counts.get(name, Counter())
        total = sum(v for k, v in c.items())
        per = "  ".join(f"{c.get(k, 0) / werf_tags:>{len(k)}.3f}" for k in KINDS[:6])
        print(f"{name:<40} {run['wall']:>7.1f} {run['peak_rss_mib']:>8.0f} {total:>8} {total / werf_tags:>7.3f}  {per}")
    cold, warm = runs["dry run, cold"], runs.get("dry run, warm")
    print(f"\ndry run cold vs raw reads: {cold['wall']:.1f} s vs {raw_read:.1f} s = {cold['wall'] / raw_read:.2f}x")
    for i, found in enumerate(cold_rounds or []):
        others = "  ".join(f"{k} {v:.1f} s = {v / found['raw']:.2f}x" for k, v in found.items() if k != "raw")
        print(f"  cold round {i + 1}: raw reads {found['raw']:.1f} s; {others}")
    if cold_rounds and len(cold_rounds) > 1:
        for name in [k for k in cold_rounds[0] if k != "raw"]:
            ratios = sorted(found[name] / found["raw"] for found in cold_rounds)
            print(
                f"  {name}: cold / raw reads of the same round, median {statistics.median(ratios):.2f}x (range {ratios[0]:.2f}–{ratios[-1]:.2f}x)"
            )
    if loads:
        print("  load average (1 min) during the cold rounds: " + ", ".join(f"{load[0]:.1f}" for load in loads))
    for label, rounds in (("warm", args.rounds), ("no cache", args.uncached_rounds)):
        if f"dry run, {label}" not in runs:
            continue
        flow, direct = runs[f"dry run, {label}"], runs[f"dry run, {label}, tasks called directly"]
        print(
            f"Prefect overhead ({label} dry run, flow vs .fn, best of {rounds}): {flow['wall']:.1f} s vs "
            f"{direct['wall']:.1f} s = {flow['wall'] / direct['wall'] - 1:+.0%}"
        )
    if warm is not None:
        print(f"warm vs cold dry run: {warm['wall']:.1f} s vs {cold['wall']:.1f} s")
    if raw_delete is not None:
        n, seconds = raw_delete
        cleanup = runs["cleanup"]
        deleted = cleanup.get("counts", {}).get("deleted", 0)
        phase_counts = counts["cleanup: deletion phase"]
        rate = deleted / cleanup["delete_wall"]
        print(f"raw DELETE ({args.parallel} threads): {n} in {seconds:.1f} s = {n / seconds:.1f}/s")
        print(
            f"cleanup: {cleanup.get('counts')}, deletion phase {cleanup['delete_wall']:.1f} s = {rate:.1f} deletes/s "
            f"= {rate / (n / seconds):.0%} of raw DELETE"
        )
        print(
            f"deletion phase requests: {dict(phase_counts)} = {sum(phase_counts.values()) / max(deleted, 1):.3f} per deleted item"
        )
        writes, spent = cleanup.get("audit_part_writes", 0), cleanup.get("audit_part_seconds", 0.0)
        print(
            f"durable audit: {writes} part writes in {spent:.2f} s = {spent / cleanup['delete_wall']:.2%} of the deletion phase"
        )
        print(f"cleanup reads: {dict(counts['cleanup: reads'])}")
    print(f"\nrequest counts: { {k: dict(v) for k, v in counts.items()} }")
