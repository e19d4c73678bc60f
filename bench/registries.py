"""Requests per werf tag (warm reads) and per deleted item, for every registry implementation.

One run, one local Distribution registry; each implementation's fake of its vendor API
(tests/fixtures/vendor_*.py) stands in front of it, so every implementation reads and deletes the
same kind of repository and the fake's request log counts what the implementation asked:

1. push N manifest-only images as N mutable tags (commit-like names) into a repository of its own;
   every tenth tag gets a sibling tag on the same digest that stays;
2. describe every tag through the registry backend with the warm-read cache, cold (fills it),
   then warm: requests per tag of the warm read;
3. delete half of the tags (every odd one, siblings staying) through the backend, as a cleanup
   batch does: requests per deleted item, deletes per second;
4. the reference, in the same run: the ``default`` implementation on plain Distribution (one
   HEAD per mutable tag when warm; one HEAD + one DELETE per deleted item).

    .venv/bin/python bench/registries.py [--tags 400] [--parallel 10] [--only gitlab,ecr]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.cache import ContentCache  # noqa: E402
from adapters.registry import RegistryClient  # noqa: E402
from adapters.registry.vendors import registry_client  # noqa: E402
from adapters.storage.registry_store import RegistryBackend  # noqa: E402
from tests.fixtures.registry import RegistryServer, free_port, require_registry_binary  # noqa: E402

#: implementation label → (fixture module, fake class)
FAKES = {
    "default": ("tests.fixtures.vendor_distribution", "DistributionFake"),
    "default (tag delete)": ("tests.fixtures.vendor_tagdelete", "TagDeletingRegistryFake"),
    "gitlab": ("tests.fixtures.vendor_gitlab", "GitLabFake"),
    "harbor": ("tests.fixtures.vendor_harbor", "HarborFake"),
    "dockerhub": ("tests.fixtures.vendor_dockerhub", "DockerHubFake"),
    "quay": ("tests.fixtures.vendor_quay", "QuayFake"),
    "github": ("tests.fixtures.vendor_github", "GitHubFake"),
    "ecr": ("tests.fixtures.vendor_ecr", "EcrFake"),
    "gcr": ("tests.fixtures.vendor_gcr", "GcrFake"),
    "acr": ("tests.fixtures.vendor_acr", "AcrFake"),
}


@contextlib.contextmanager
def environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def fill(server: RegistryServer, path: str, n: int, parallel: int) -> tuple[list[str], list[str]]:
    """(tags, sibling tags) of ``path``: n images, a staying sibling on every tenth."""
    tags = [f"{i:040x}" for i in range(1, n + 1)]
    with RegistryClient(server.options(parallel=parallel)) as client:
        repo = server.repo(path)
        digests = client.map_concurrent(
            lambda t: client.push_manifest_only_image(repo, t, {"config": {"Labels": {"n": t}}})[0], tags
        )
        siblings = []
        for i in range(len(tags)):
            if i % 10 == 1:
                raw = client.get_manifest(repo, digests[i]).raw
                client.put_manifest(repo, f"pin-{i}", raw, "application/vnd.docker.distribution.manifest.v2+json")
                siblings.append(f"pin-{i}")
    return tags, siblings


def measure(label: str, server: RegistryServer, n: int, parallel: int, work: Path) -> dict[str, float | str]:
    module, name = FAKES[label]
    fake = getattr(importlib.import_module(module), name)(server)
    try:
        path = f"bench/{label.split()[0]}-{len(os.listdir(work))}"
        tags, siblings = fill(server, path, n, parallel)
        env = fake.cli_env(work / f"home-{label.split()[0]}")
        with environment(env):
            options = server.options(
                docker_config=env.get("DOCKER_CONFIG"), parallel=parallel, implementation=fake.implementation
            )
            cache = ContentCache(work / f"cache-{label.split()[0]}")
            backend = RegistryBackend(registry_client(options), cache)
            repo = fake.repo(path)
            backend.describe(repo, tags)  # cold: fills the cache
            mark = len(fake.log)
            started = time.perf_counter()
            backend.describe(repo, tags)
            warm_seconds = time.perf_counter() - started
            warm = len(fake.log) - mark
            going = [(tag, None) for i, tag in enumerate(tags) if i % 2 == 1]
            mark = len(fake.log)
            started = time.perf_counter()
            results = backend.delete(repo, [going], parallel, leaving=[t for t, _ in going])
            delete_seconds = time.perf_counter() - started
            requests = len(fake.log) - mark
            backend.close()
        outcomes = [r.outcome for r in results[0]]
        deleted = outcomes.count("deleted")
        return {
            "implementation": label,
            "warm requests per tag": warm / n,
            "warm read s": warm_seconds,
            "deleted": deleted,
            "kept": outcomes.count("kept"),
            "failed": outcomes.count("failed"),
            "requests per deleted item": requests / max(deleted, 1),
            "deletes/s": deleted / delete_seconds if delete_seconds else 0.0,
            "siblings": len(siblings),
        }
    finally:
        fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=400)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--only", default="", help="comma-separated implementation labels (default: all)")
    args = parser.parse_args()
    require_registry_binary()
    work = Path(tempfile.mkdtemp(prefix="stagesweep-bench-registries-"))
    server = RegistryServer(root=work / "registry", port=free_port())
    server.root.mkdir(parents=True)
    server.start()
    wanted = [label for label in FAKES if not args.only or label.split()[0] in args.only.split(",") or label == "default"]
    rows = []
    try:
        for label in wanted:
            rows.append(measure(label, server, args.tags, args.parallel, work))
            print(rows[-1], flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    reference = next(r for r in rows if r["implementation"] == "default")
    print(f"\nN = {args.tags} mutable tags per implementation, {args.parallel} parallel requests, one local registry\n")
    print(
        "| implementation | warm reads: requests per tag | deletes: requests per deleted item | deletes/s | vs default's deletes/s |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        ratio = float(r["deletes/s"]) / float(reference["deletes/s"]) if reference["deletes/s"] else 0.0
        print(
            f"| {r['implementation']} | {float(r['warm requests per tag']):.2f} | {float(r['requests per deleted item']):.2f} "
            f"({r['deleted']} deleted, {r['kept']} kept, {r['failed']} failed) | {float(r['deletes/s']):.0f} | {ratio:.0%} |"
        )


if __name__ == "__main__":
    main()
