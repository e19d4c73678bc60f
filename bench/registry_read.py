"""Registry read benchmark: how close does the registry client get to the registry's ceiling?

One run, one local Distribution registry started by this script:

1. push N manifest-only images (distinct configs) as N tags;
2. hammer one manifest URL (same Accept header) with ``wrk`` for a few seconds: the ceiling
   (measured right before and right after step 3; their mean is used); and, as a second
   reference, ``wrk`` cycling through the description fetch's own 2N requests (a Lua script);
3. fetch the description of every tag — GET manifest + GET config blob — with
   ``RegistryClient.map_concurrent`` at ``--parallel`` workers;
4. with ``--compare``, the same description fetch with raw urllib3 and raw http.client
   (no client logic) to show what the transport costs.

Prints requests/s of each and the client/ceiling ratio. Usage (from the repository root):

    .venv/bin/python bench/registry_read.py [--tags 2000] [--parallel 10] [--wrk-seconds 5] [--compare]
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.registry import MANIFEST_ACCEPT, RegistryClient  # noqa: E402
from tests.fixtures.registry import RegistryServer, free_port, require_registry_binary  # noqa: E402

WRK = "/usr/bin/wrk"


def timed(label: str, requests: int, run) -> float:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    rate = requests / wall
    print(
        f"{label:<34} {requests:>6} requests in {wall:6.2f}s = {rate:7.0f} req/s, "
        f"client CPU {cpu / requests * 1e6:5.0f} µs/request"
    )
    return rate


def wrk_ceiling(url: str, connections: int, seconds: float, script: Path | None = None) -> float:
    extra = ["-s", str(script)] if script else []
    result = subprocess.run(
        [WRK, "-t2", f"-c{connections}", f"-d{seconds:g}s", "-H", f"Accept: {MANIFEST_ACCEPT}", *extra, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"cannot read wrk output:\n{result.stdout}\n{result.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    if non_2xx:
        raise RuntimeError(f"wrk got {non_2xx.group(1)} error responses from {url}")
    return float(match.group(1))


def raw_describe(host: str, path: str, tags: list[str], config_of: dict[str, str], parallel: int, kind: str):
    """The description fetch without any client logic, over urllib3 or http.client."""
    if kind == "urllib3":
        import urllib3

        pool = urllib3.PoolManager(maxsize=parallel, retries=False)

        def get(url_path: str, headers: dict[str, str]) -> bytes:
            response = pool.request("GET", f"http://{host}{url_path}", headers=headers)
            assert response.status == 200, response.status
            return response.data
    else:
        local = threading.local()

        def get(url_path: str, headers: dict[str, str]) -> bytes:
            conn = getattr(local, "conn", None) or http.client.HTTPConnection(host, timeout=30)
            local.conn = conn
            conn.request("GET", url_path, headers=headers)
            response = conn.getresponse()
            data = response.read()
            assert response.status == 200, response.status
            return data

    def describe(tag: str) -> None:
        get(f"/v2/{path}/manifests/{tag}", {"Accept": MANIFEST_ACCEPT})
        get(f"/v2/{path}/blobs/{config_of[tag]}", {})

    with ThreadPoolExecutor(parallel) as executor:
        list(executor.map(describe, tags))


def request_mix_script(root: Path, paths: list[str]) -> Path:
    """A wrk Lua script that cycles through `paths` (the description fetch's own requests)."""
    script = root / "mix.lua"
    listed = ",\n".join(f'"{p}"' for p in paths)
    script.write_text(
        "local paths = {\n" + listed + "\n}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end\n"
    )
    return script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--wrk-seconds", type=float, default=3.0)
    parser.add_argument("--compare", action="store_true", help="also time raw urllib3 and http.client")
    args = parser.parse_args()
    require_registry_binary()
    if not Path(WRK).exists():
        print(f"{WRK} is missing: install it with `apt-get install wrk`", file=sys.stderr)
        return 1

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up when `timeout` stops us
    root = Path(tempfile.mkdtemp(prefix="stagesweep-bench-registry-"))
    server = RegistryServer(root=root, port=free_port())
    try:
        server.start()
        repo = server.repo("bench/app")
        path = repo.split("/", 1)[1]
        tags = [f"t{i:05d}" for i in range(args.tags)]
        with RegistryClient(server.options(parallel=args.parallel)) as client:
            print(f"registry {server.host}, {args.tags} tags, parallel={args.parallel}")
            pushed: dict[str, tuple[str, str]] = {}

            def push() -> None:
                results = client.map_concurrent(
                    lambda tag: client.push_manifest_only_image(repo, tag, {"config": {"Labels": {"tag": tag}}}),
                    tags,
                )
                pushed.update(zip(tags, results, strict=True))

            timed("push (POST+PUT blob, PUT manifest)", 3 * args.tags, push)
            assert sorted(client.list_tags(repo)) == tags

            def describe_all() -> None:
                def describe(tag: str) -> dict:
                    return client.get_config(repo, client.get_manifest(repo, tag))

                configs = client.map_concurrent(describe, tags)
                assert all(c["config"]["Labels"]["tag"] == t for c, t in zip(configs, tags, strict=True))

            manifest_url = f"{server.url}/v2/{path}/manifests/{tags[0]}"
            # The machine may be shared: take the ceiling right before and right after the
            # client run and compare with their mean.
            before = wrk_ceiling(manifest_url, args.parallel, args.wrk_seconds)
            client_rate = timed("describe: RegistryClient", 2 * args.tags, describe_all)
            after = wrk_ceiling(manifest_url, args.parallel, args.wrk_seconds)
            mix = request_mix_script(
                root, [p for tag in tags for p in (f"/v2/{path}/manifests/{tag}", f"/v2/{path}/blobs/{pushed[tag][1]}")]
            )
            mix_rate = wrk_ceiling(f"{server.url}/", args.parallel, args.wrk_seconds, mix)
            if args.compare:
                config_of = {tag: config for tag, (_, config) in pushed.items()}
                for kind in ("urllib3", "http.client"):
                    timed(
                        f"describe: raw {kind}",
                        2 * args.tags,
                        lambda kind=kind: raw_describe(server.host, path, tags, config_of, args.parallel, kind),
                    )
        ceiling = (before + after) / 2
        print(
            f"{'ceiling: wrk, one manifest URL':<34} {ceiling:7.0f} req/s "
            f"(before {before:.0f}, after {after:.0f}; {args.parallel} connections)"
        )
        print(f"client / ceiling = {client_rate / ceiling:.0%} (target >= 60%)")
        print(
            f"{'wrk, the same request mix':<34} {mix_rate:7.0f} req/s "
            f"(GET manifest + GET config blob of all {args.tags} tags, cycled)"
        )
        print(f"client / same-mix wrk = {client_rate / mix_rate:.0%}")
        return 0
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
