"""Benchmark: read git refs + history and plan images cleanup on a large repository.

Generates (once, cached in a temp dir) with ``git fast-import`` a repository of 100,000 commits:
a ``main`` line, 1,000 branches forking from it (a quarter merged back), all as
``refs/remotes/origin/*``, and 500 tags (half annotated); plus 20,000 metadata records over 3
images and images-repo tags for their signatures. Then, in one run, times

* ``git rev-list --all --parents`` (the floor: git alone walking the graph);
* reading: ``GitRepo.references()`` + ``GitRepo.commits()``;
* planning: ``decide_images`` with the default keep policies, and with policies that scan
  every branch and tag;

and prints the ratio (reading + planning) / rev-list, which should stay ≤ 3, and the peak RSS.

    .venv/bin/python bench/plan_scale.py [--commits N --branches N --tags N --metadata N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.git_repo import GitRepo  # noqa: E402
from core.images import decide_images  # noqa: E402
from schemas.config import default_keep_policies, parse_keep_policies  # noqa: E402
from schemas.tables import IMAGE_TAGS_SCHEMA, METADATA_SCHEMA  # noqa: E402

START = 1_600_000_000  # first commit time (Unix seconds)
STEP = 60  # seconds between commits
IMAGES = ("backend", "frontend", "")
SCAN_EVERYTHING = [
    {"references": {"tag": "/.*/"}},
    {"references": {"branch": "/.*/"}, "imagesPerReference": {"last": 2}},
    {"references": {"branch": "main"}, "imagesPerReference": {"last": 10}},
]


def generate(repo: Path, commits: int, branches: int, tags: int, seed: int = 7) -> list[tuple[str, int]]:
    """Write the repository with git fast-import; return [(sha, committed_at)] in commit order."""
    rng = random.Random(seed)
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run(["git", "init", "--quiet", "--bare", str(repo)], check=True)
    per_branch = max(1, (commits // 2) // max(branches, 1))
    main_share = commits - per_branch * branches
    fork_every = max(1, main_share // max(branches, 1))
    lines: list[str] = []
    marks: list[int] = []  # commit time per mark (mark = index + 1)
    main_tip = 0
    active: dict[str, tuple[int, int]] = {}  # branch -> (tip mark, commits left)
    created = 0
    main_commits: list[int] = []

    def commit(ref: str, parents: list[int]) -> int:
        mark = len(marks) + 1
        when = START + STEP * mark
        marks.append(when)
        lines.append(f"commit {ref}\nmark :{mark}\ncommitter Bench <bench@example.test> {when} +0000\n")
        lines.append(f"data {len(str(mark)) + 2}\nc {mark}\n")
        if parents:
            lines.append(f"from :{parents[0]}\n")
        lines.extend(f"merge :{p}\n" for p in parents[1:])
        lines.append("\n")
        return mark

    while len(marks) < commits:
        on_main = not active or rng.random() < main_share / commits
        if on_main:
            done = [b for b, (_, left) in active.items() if left == 0]
            if done and rng.random() < 0.25:
                branch = done[0]
                main_tip = commit("refs/remotes/origin/main", [main_tip, active.pop(branch)[0]])
            else:
                for branch in done:
                    active.pop(branch)
                main_tip = commit("refs/remotes/origin/main", [main_tip] if main_tip else [])
            main_commits.append(main_tip)
            if created < branches and len(main_commits) % fork_every == 0:
                active[f"feature-{created:04d}"] = (main_tip, per_branch)
                created += 1
        else:
            branch = rng.choice([b for b, (_, left) in active.items() if left > 0] or list(active))
            tip, left = active[branch]
            if left == 0:
                continue
            active[branch] = (commit(f"refs/remotes/origin/{branch}", [tip]), left - 1)
    while created < branches:  # branches that never got their own commit
        lines.append(f"reset refs/remotes/origin/feature-{created:04d}\nfrom :{main_tip}\n\n")
        created += 1
    for number, mark in enumerate(sorted(rng.sample(main_commits, min(tags, len(main_commits))))):
        name = f"v1.{number}"
        if number % 2:
            when = marks[mark - 1] + 30
            lines.append(f"tag {name}\nfrom :{mark}\ntagger Bench <bench@example.test> {when} +0000\ndata 4\nrel\n\n")
        else:
            lines.append(f"reset refs/tags/{name}\nfrom :{mark}\n\n")
    marks_file = repo / "bench-marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks_file}"],
        cwd=repo,
        input="".join(lines).encode(),
        check=True,
    )
    shas = {}
    for line in marks_file.read_text().splitlines():
        mark, sha = line.split()
        shas[int(mark[1:])] = sha
    return [(shas[m], marks[m - 1]) for m in range(1, len(marks) + 1)]


def images_tables(commits: list[tuple[str, int]], records: int, seed: int = 11) -> tuple[pa.Table, pa.Table]:
    """Metadata records over IMAGES (signatures shared by neighbouring builds) and their tags."""
    rng = random.Random(seed)
    metadata, tags = [], []
    per_image = records // len(IMAGES)
    for image in IMAGES:
        slug = image or "__nameless__"
        chosen = sorted(rng.sample(range(len(commits)), per_image))
        signatures = set()
        for position in chosen:
            sha = commits[position][0]
            sig = hashlib.sha3_224(f"{image}-{position // 40}-{rng.random() < 0.1}".encode()).hexdigest()
            signatures.add(sig)
            metadata.append(
                {
                    "image_name": image,
                    "commit": sha,
                    "content_signature": sig,
                    "repository": "127.0.0.1:5000/bench/stages",
                    "tag": f"image-metadata-by-commit-{slug}-{sha}",
                    "digest": None,
                }
            )
        for sig in sorted(signatures):
            for copy in range(rng.choice((1, 1, 2))):
                tags.append(
                    {
                        "image_name": image,
                        "repository": f"127.0.0.1:5000/bench/app/{image}" if image else "127.0.0.1:5000/bench/app",
                        "tag": f"{sig[:12]}-{copy}",
                        "digest": f"sha256:{hashlib.sha256(sig.encode()).hexdigest()}",
                        "content_signature": sig,
                        "parent_id": None,
                        "created": None,
                    }
                )
    return pa.Table.from_pylist(tags, schema=IMAGE_TAGS_SCHEMA), pa.Table.from_pylist(metadata, schema=METADATA_SCHEMA)


def prepare(args: argparse.Namespace) -> tuple[Path, pa.Table, pa.Table, int]:
    key = f"c{args.commits}-b{args.branches}-t{args.tags}-m{args.metadata}-v1"
    cache = Path(args.cache_dir) / key
    repo, done = cache / "repo.git", cache / "done.json"
    if args.rebuild or not done.exists():
        cache.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        commits = generate(repo, args.commits, args.branches, args.tags)
        tags, metadata = images_tables(commits, args.metadata)
        pq.write_table(tags, cache / "tags.parquet")
        pq.write_table(metadata, cache / "metadata.parquet")
        done.write_text(json.dumps({"last_commit_time": commits[-1][1]}))
        print(f"generated {cache} in {time.perf_counter() - started:.1f} s")
    last = json.loads(done.read_text())["last_commit_time"]
    return repo, pq.read_table(cache / "tags.parquet"), pq.read_table(cache / "metadata.parquet"), last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--branches", type=int, default=1_000)
    parser.add_argument("--tags", type=int, default=500)
    parser.add_argument("--metadata", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best time of each step is shown")
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "stagesweep-bench"))
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    repo_path, tags, metadata, last = prepare(args)
    now = dt.datetime.fromtimestamp(last, dt.UTC) + dt.timedelta(hours=1)
    repo = GitRepo(repo_path)

    policy_sets = {"default policies": default_keep_policies(), "every branch and tag": parse_keep_policies(SCAN_EVERYTHING)}
    timings: dict[str, list[float]] = {}

    def timed(label: str, func):
        started = time.perf_counter()
        result = func()
        timings.setdefault(label, []).append(time.perf_counter() - started)
        return result

    counts = {}
    for _ in range(args.repeat):  # interleaved rounds: each round sees the same machine load
        timed(
            "rev-list",
            lambda: subprocess.run(["git", "rev-list", "--all", "--parents"], cwd=repo_path, capture_output=True, check=True),
        )
        refs, commits = timed("read", lambda: (repo.references(), repo.commits()))
        for label, policies in policy_sets.items():
            decisions = timed(label, lambda p=policies, r=refs, c=commits: decide_images(tags, metadata, r, c, p, now))
            counts[label] = decisions.group_by(["item_type", "action"]).aggregate([([], "count_all")]).to_pylist()
    best = {label: min(values) for label, values in timings.items()}
    revlist_s, read_s = best["rev-list"], best["read"]
    rows = {label: (best[label], counts[label]) for label in policy_sets}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"repository: {commits.num_rows} commits, {refs.num_rows} refs "
        f"({sum(k == 'branch' for k in refs.column('kind').to_pylist())} branches); "
        f"{metadata.num_rows} metadata records, {tags.num_rows} image tags over {len(IMAGES)} images"
    )
    print(f"git rev-list --all --parents : {revlist_s:7.3f} s")
    print(f"read refs + commits          : {read_s:7.3f} s")
    for label, (plan_s, counts) in rows.items():
        total = read_s + plan_s
        summary = ", ".join(f"{c['item_type']} {c['action']} {c['count_all']}" for c in counts)
        print(f"plan ({label:21}): {plan_s:7.3f} s  -> read+plan {total:.3f} s = {total / revlist_s:.2f}x rev-list  [{summary}]")
    print(f"peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
