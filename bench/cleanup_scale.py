"""Cleanup at production size: requests per werf tag, warm reads, deletes vs raw DELETE.

One run, one local Distribution registry with its access log on (every request counted by kind):

1. fill N end images (multirepo ``images/app``, tag = commit), their N stages and N metadata
   records (plus the managed-image record) with a stdlib ``http.client`` pusher; only the last
   ``--keep`` commits exist in git, so a cleanup deletes everything else (3·(N − keep) items).
   ``--format v2``: one werf 1.2 / 2.x repository (``--repo``) instead — N builds of one stage
   each with their meta records, ``--custom-tags`` custom tags with their metadata on the newest
   builds, the managed-image record — as ``Werf2Publisher`` writes them; a cleanup deletes the
   2·(N − keep) stages and meta records of the builds git no longer has.
   With deletes, a second, identical world (``ref``) is filled for the raw DELETE reference;
2. **raw reads** (reference): GET manifest + GET config of every tag, ``http.client``,
   ``--read-threads`` threads, no client logic;
3. stagesweep ``cleanup --dry-run``, cache cold (empty ``<home>/cache``); with ``--cold-rounds K``
   K rounds of raw reads and a cold dry run, interleaved, each cold run against the raw reads of
   its own round (medians reported); ``--baseline-tree DIR`` adds, in every round, the cold dry
   run of another checkout of stagesweep (a before/after in one run and one world);
4. the dry run warm (twice, interleaved with 5.);
5. the same dry run with the flow's task functions called directly (``.fn``) in one process:
   the Prefect overhead is the orchestrated warm run's wall time over this one's;
6. **raw DELETE** (reference): the same deletes by digest on the ``ref`` world, in the cleanup's
   order, at stagesweep's parallelism;
7. the real ``cleanup`` (warm cache), with the time its durable audit took (the part file
   written before each deletion batch and after the last: its writes and their seconds).

Each stagesweep run is a child process against one ``prefect server`` started by the script;
its wall time is the flow call alone (not imports), its peak RSS is the child's. The requests of
each phase come from the registry's access log; a marker request splits the real cleanup into
its reads and its deletion phase.

    .venv/bin/python bench/cleanup_scale.py [--format v1.1|v2] [--images 2000] [--custom-tags 5]
        [--keep 10] [--parallel 10] [--read-threads 16] [--skip-deletes] [--cold-rounds 1]
        [--baseline-tree DIR] [--rounds 3] [--uncached-rounds 2] [--profile DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scale_report import MARKER, count, report  # noqa: E402
from scale_world import Http, push, run_parallel, werf2_world_items, world_items  # noqa: E402

from adapters.registry import MANIFEST_ACCEPT  # noqa: E402
from adapters.storage import codec  # noqa: E402
from tests.fixtures.gitrepo import GitProject  # noqa: E402
from tests.fixtures.registry import RegistryServer, free_port, require_registry_binary  # noqa: E402


# ---------------------------------------------------------------------------------- children
def child(spec: dict) -> None:
    """Run one stagesweep cleanup in this process and print its measurements as JSON."""
    from prefect.logging.loggers import disable_run_logger

    import coordination.deletion_run as deletion_run
    from cli.run import flow_for
    from flows import cleanup as cleanup_flow
    from schemas.settings import CleanupSettings
    from schemas.vocab import Command

    flow_for(Command.CLEANUP)  # the flow as the CLI imports it

    settings = CleanupSettings(**spec["settings"])
    marks: dict[str, float] = {}
    execute = deletion_run.DeletionRun.execute

    def timed_execute(self, plan, revise=None):
        conn = http.client.HTTPConnection(spec["registry"], timeout=30)
        conn.request("GET", MARKER + "?execute")
        conn.getresponse().read()
        marks["execute"] = time.perf_counter()
        try:
            return execute(self, plan, revise)
        finally:
            marks["executed"] = time.perf_counter()
            # the durable audit: the part file written before each batch and after the last
            result["audit_part_writes"] = getattr(self, "checkpoint_writes", 0)
            result["audit_part_seconds"] = getattr(self, "checkpoint_seconds", 0.0)

    result: dict = {}
    deletion_run.DeletionRun.execute = timed_execute
    profile = None
    if spec.get("profile"):
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    started = time.perf_counter()
    try:
        if spec["mode"] == "flow":
            summary = cleanup_flow.cleanup(settings)
        else:  # the same task functions, called directly
            import dataclasses

            from prefect import Task

            import tasks.delete as delete_tasks
            from flows import project_inventory, repo_runs

            for module in (cleanup_flow, project_inventory, repo_runs):
                for name, value in list(vars(module).items()):
                    if isinstance(value, Task):
                        setattr(module, name, value.fn)
            steps = delete_tasks.RUN_STEPS
            delete_tasks.RUN_STEPS = dataclasses.replace(
                steps,
                **{f.name: getattr(getattr(steps, f.name), "fn", getattr(steps, f.name)) for f in dataclasses.fields(steps)},
            )
            with disable_run_logger():
                summary = cleanup_flow.run_cleanup(settings, Command.CLEANUP, images=True, stages=True)
        result["counts"] = summary.counts
    except Exception as exc:  # reported to the parent
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["wall"] = time.perf_counter() - started
    if profile is not None:
        profile.disable()
        profile.dump_stats(spec["profile"])
    if "execute" in marks:
        result["delete_wall"] = marks["executed"] - marks["execute"]
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def run_child(spec: dict, env: dict, tree: Path = ROOT) -> dict:
    """One stagesweep run in a child process, with the code of ``tree`` (another checkout of
    stagesweep, for a before/after comparison in one run; it needs this bench's files)."""
    proc = subprocess.run(
        [sys.executable, str(tree / "bench" / Path(__file__).name), "--child", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tree,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            if "error" in result:
                print(f"  ! {spec['mode']} run: {result['error']}", file=sys.stderr)
            return result
    raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def start_prefect_server(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc, url
        except OSError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("prefect server did not start in 120 s")


# ---------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--format",
        choices=("v1.1", "v2"),
        default="v1.1",
        help="v1.1: images repo + stages storage; v2: one werf 1.2 / 2.x repository (--repo)",
    )
    parser.add_argument("--images", type=int, default=2000, help="end images (v1.1) or builds of one stage each (v2)")
    parser.add_argument("--custom-tags", type=int, default=5, help="v2: custom tags on the newest builds")
    parser.add_argument("--keep", type=int, default=10, help="commits that exist in git (their images stay)")
    parser.add_argument("--parallel", type=int, default=10, help="stagesweep --parallel-tasks-limit and raw DELETE threads")
    parser.add_argument("--read-threads", type=int, default=16)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=200,
        help="stagesweep --batch-size: rows per deletion batch (each checks the tags that stay)",
    )
    parser.add_argument("--skip-deletes", action="store_true", help="only the reads (for very large N)")
    parser.add_argument(
        "--cold-rounds",
        type=int,
        default=1,
        help="rounds of raw reads + a cold dry run (cache emptied), interleaved; medians reported",
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        metavar="DIR",
        help="another checkout of stagesweep (with this bench's files): its cold dry run too, in every cold round",
    )
    parser.add_argument("--rounds", type=int, default=3, help="warm dry runs, flow and direct, interleaved (best kept)")
    parser.add_argument("--uncached-rounds", type=int, default=2, help="the same with --no-cache")
    parser.add_argument("--profile", metavar="DIR", help="write a cProfile of each warm dry run (flow and direct) to DIR")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    require_registry_binary()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="stagesweep-bench-scale-"))
    server = RegistryServer(root=work, port=free_port())
    prefect = None
    try:
        server.start(access_log=True)
        offset = 0

        def phase() -> tuple[Counter, list]:
            nonlocal offset
            time.sleep(0.3)  # the log line of the last answer
            found, offset = server.access_log_requests(offset)
            return count(found), found

        (work / "prefect").mkdir()
        prefect, api_url = start_prefect_server(work / "prefect")
        git = GitProject(work / "git")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        real = git.commits("main", [now - dt.timedelta(hours=args.keep - i) for i in range(args.keep)])
        git.push()
        werf = (
            "project: acme\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references: {branch: /.*/}\n"
            f"    imagesPerReference: {{last: {args.keep}}}\n---\nimage: app\n"
        )
        (git.work / "werf.yaml").write_text(werf)

        v2 = args.format == "v2"

        def make_world(project: str) -> list:
            if v2:
                return werf2_world_items(project, args.images, real, now, args.custom_tags)
            return world_items(server.host, project, args.images, real, now)

        worlds = {"acme": make_world("acme")}
        if not args.skip_deletes:
            worlds["ref"] = make_world("ref")
        http_ = Http(server.host)
        items = [item for world in worlds.values() for item in world]
        fill = run_parallel(16, lambda item: push(http_, item), items)
        werf_tags = len(worlds["acme"])
        if v2:
            print(
                f"registry {server.host}; werf 1.2 / 2.x repository: {args.images} stages + {args.images} meta records "
                f"+ {args.custom_tags} custom tags and their metadata + 1 managed image = {werf_tags} tags per world, "
                f"{len(worlds)} world(s)"
            )
        else:
            print(
                f"registry {server.host}; {args.images} end images + {args.images} stages + {args.images} metadata "
                f"+ 1 managed image = {werf_tags} werf tags per world, {len(worlds)} world(s)"
            )
        print(f"fill: {len(items)} images ({3 * len(items)} requests) in {fill:.1f} s = {3 * len(items) / fill:.0f} req/s")
        phase()

        # raw reads on the acme world
        acme = worlds["acme"]

        def read(item) -> None:
            repo, tag, config, _, _ = item
            status, _, _ = http_.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
            assert status == 200, status
            status, _, _ = http_.request("GET", f"/v2/{repo}/blobs/{codec.digest_of(config)}")
            assert status == 200, status

        loads = [os.getloadavg()]
        raw_reads = [run_parallel(args.read_threads, read, acme)]
        phase()

        home = work / "home"
        env = {
            **os.environ,
            "PREFECT_API_URL": api_url,
            "PREFECT_HOME": str(work / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "STAGESWEEP_HOME_DIR": str(home),
        }
        storages = (
            {"repo": f"{server.host}/bench/acme/repo"}
            if v2
            else {"images_repo": f"{server.host}/bench/acme/images", "stages_storage": f"{server.host}/bench/acme/stages"}
        )
        settings = {
            **storages,
            "dir": str(git.work),
            "audit_dir": str(work / "audit"),
            "insecure_registry": True,
            "without_kube": True,
            "keep_stages_built_within_last_n_hours": 0,
            "home_dir": str(home),
            "parallel_tasks_limit": args.parallel,
            "batch_size": args.batch_size,
            "dry_run": True,
        }
        spec = {"registry": server.host, "settings": settings}
        runs: dict[str, dict] = {}
        counts: dict[str, Counter] = {}
        cold_profile = None
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            cold_profile = str(Path(args.profile) / "cold-flow.prof")
        cold_rounds: list[dict] = []
        for i in range(max(1, args.cold_rounds)):  # raw reads and cold runs interleaved: the load hits all alike
            if i:
                raw_reads.append(run_parallel(args.read_threads, read, acme))
                phase()
            found = {"raw": raw_reads[-1]}
            trees = [("this tree", ROOT)] + ([("baseline", args.baseline_tree.resolve())] if args.baseline_tree else [])
            for name, tree in trees if i % 2 == 0 else trees[::-1]:
                shutil.rmtree(home / "cache", ignore_errors=True)  # cold: an empty <home>/cache
                result = run_child({**spec, "mode": "flow", "profile": cold_profile if i == 0 else None}, env, tree)
                requests = phase()[0]
                found[name] = result["wall"]
                if name == "this tree" and i == 0:
                    runs["dry run, cold"], counts["dry run, cold"] = result, requests
                elif name == "baseline" and i == 0:
                    runs["dry run, cold, baseline tree"], counts["dry run, cold, baseline tree"] = result, requests
            cold_rounds.append(found)
            loads.append(os.getloadavg())
        raw_read = statistics.median(raw_reads)
        runs["dry run, cold"]["wall"] = statistics.median(r["this tree"] for r in cold_rounds)
        if args.baseline_tree:
            runs["dry run, cold, baseline tree"]["wall"] = statistics.median(r["baseline"] for r in cold_rounds)
        pairs: dict[str, tuple[list, list]] = {"warm": ([], []), "no cache": ([], [])}
        for label, extra, rounds in (("warm", {}, args.rounds), ("no cache", {"no_cache": True}, args.uncached_rounds)):
            for i in range(rounds):  # interleaved: the machine's load hits both alike
                run = {**spec, "settings": {**settings, **extra}}
                profiles = {}
                if args.profile and label == "warm":
                    Path(args.profile).mkdir(parents=True, exist_ok=True)
                    profiles = {mode: str(Path(args.profile) / f"warm-{mode}-{i}.prof") for mode in ("flow", "direct")}
                result = run_child({**run, "mode": "flow", "profile": profiles.get("flow")}, env)
                runs.setdefault(f"dry run, {label}", result)
                counts.setdefault(f"dry run, {label}", phase()[0])
                direct = run_child({**run, "mode": "direct", "profile": profiles.get("direct")}, env)
                runs.setdefault(f"dry run, {label}, tasks called directly", direct)
                counts.setdefault(f"dry run, {label}, tasks called directly", phase()[0])
                pairs[label][0].append(result["wall"])
                pairs[label][1].append(direct["wall"])
        for label, (flow_walls, direct_walls) in pairs.items():
            if flow_walls:
                runs[f"dry run, {label}"]["wall"] = min(flow_walls)
                runs[f"dry run, {label}, tasks called directly"]["wall"] = min(direct_walls)

        raw_delete = None
        if not args.skip_deletes:
            if v2:  # the builds whose commits git no longer has: their meta records, then their stages
                order = {"meta": 0, "stage": 1}
                ref = [item for item in worlds["ref"] if item[4] in ("stage", "meta")]
                doomed = ref[: 2 * (args.images - args.keep)]  # a build's stage, then its meta record
            else:
                order = {"image-tag": 0, "image-metadata": 1, "stage": 2}
                ref = [item for item in worlds["ref"] if item[4] in order]
                kept_tags = set(real) | {codec.metadata_tag("app", c) for c in real}
                kept_stage_index = set(range(args.images - args.keep, args.images))
                doomed = [
                    item
                    for i, item in enumerate(ref)
                    if item[1] not in kept_tags and not (item[4] == "stage" and i // 3 in kept_stage_index)
                ]
            doomed.sort(key=lambda item: order[item[4]])

            def delete(item) -> None:
                status, _, _ = http_.request("DELETE", f"/v2/{item[0]}/manifests/{codec.digest_of(item[3])}")
                assert status == 202, status

            raw_delete = (
                len(doomed),
                sum(
                    run_parallel(args.parallel, delete, [d for d in doomed if order[d[4]] == k])
                    for k in sorted(set(order.values()))
                ),
            )
            phase()
            runs["cleanup"] = run_child({**spec, "mode": "flow", "settings": {**settings, "dry_run": False}}, env)
            _, found = phase()
            split = next(i for i, (_, p, _) in enumerate(found) if p.startswith(MARKER))
            counts["cleanup"] = count(found)
            counts["cleanup: reads"] = count(found[:split])
            counts["cleanup: deletion phase"] = count(found[split:])

        loads.append(os.getloadavg())
        report(args, werf_tags, raw_read, raw_delete, runs, counts, cold_rounds, loads)
        return 0
    finally:
        if prefect is not None:
            os.killpg(prefect.pid, signal.SIGTERM)
            prefect.wait(timeout=30)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
