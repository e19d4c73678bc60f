"""What the durable audit's fsync costs: a run's part file rewritten once per deletion batch, as a
real cleanup does, with the file and its directory fsynced (what stagesweep does) against the same
writes without fsync (the reference, measured in the same run, alternating).

The part holds every row of the run; a cleanup of N items rewrites it about N / batch-size + 1
times. Prints the median time per part write of each and the ratio, and the cost per deleted item
at the default batch size. Usage (from the repository root):

    .venv/bin/python bench/audit_fsync.py [--rows 6000] [--writes 31] [--rounds 5] [--dir DIR]

`--dir` chooses the disk (default: a temp directory; the audit usually lives on the home disk).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters import audit
from schemas.tables import AUDIT_SCHEMA

BATCH_SIZE = 200  # the default --batch-size


def table(rows: int) -> pa.Table:
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "run_id": "bench",
                "command": "cleanup",
                "dry_run": False,
                "project": "acme",
                "started_at": now,
                "decided_at": now,
                "storage": "stages-storage",
                "repository": "127.0.0.1:5000/acme/stages",
                "tag": f"{i:056x}-1700000000000",
                "digest": f"sha256:{i:064x}",
                "item_type": "stage",
                "image_name": None,
                "signature": f"{i:056x}",
                "commit": None,
                "action": "delete",
                "reason": "unused-stage",
                "detail": None,
                "outcome": "started",
                "error": None,
                "size_bytes": 1024,
                "reclaimable_bytes": None,
            }
            for i in range(rows)
        ],
        schema=AUDIT_SCHEMA,
    )


def part_writes(directory: Path, rows: pa.Table, writes: int, fsync: bool) -> float:
    """Seconds for `writes` rewrites of one part file."""
    part = audit.part_path(audit.audit_path(directory, f"bench-{fsync}-{time.time_ns()}", datetime.now(UTC)))
    real = os.fsync
    if not fsync:
        os.fsync = lambda fd: None  # the reference: the same writes, left to the page cache
    try:
        started = time.perf_counter()
        for _ in range(writes):
            audit.write_audit_part(part, rows)
        return time.perf_counter() - started
    finally:
        os.fsync = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=6000, help="rows of the run (its planned items)")
    parser.add_argument("--writes", type=int, default=31, help="part writes of the run (batches + 1)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where the audit lives (default: a temp directory)")
    args = parser.parse_args()
    rows = table(args.rows)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        synced, cached = [], []
        for _ in range(args.rounds):  # alternating, so drift of the machine hits both alike
            synced.append(part_writes(Path(tmp), rows, args.writes, fsync=True) / args.writes)
            cached.append(part_writes(Path(tmp), rows, args.writes, fsync=False) / args.writes)
    with_fsync, without = statistics.median(synced), statistics.median(cached)
    per_item = (with_fsync - without) * (args.rows / BATCH_SIZE + 1) / args.rows
    print(f"part file of {args.rows} rows, {args.writes} writes, {args.rounds} rounds (median per write)")
    print(f"  fsynced (file + directory): {with_fsync * 1000:.1f} ms")
    print(f"  without fsync (reference):  {without * 1000:.1f} ms")
    print(f"  ratio: {with_fsync / without:.2f}x; fsync adds {(with_fsync - without) * 1000:.1f} ms per batch")
    print(f"  = {per_item * 1e6:.0f} µs per deleted item at --batch-size {BATCH_SIZE}")


if __name__ == "__main__":
    main()
