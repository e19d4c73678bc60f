"""The window in which a tag pushed again can still be deleted, for the implementations whose
vendor has no conditional tag delete (Docker Hub, Quay with its token).

A delete is safe when the tag still names the digest it was checked at. The registry backend
checks every tag of a batch (one HEAD each, in parallel) and then hands the batch to the deleter;
the Docker Hub and Quay deleters also read each tag again through the vendor's API right before
its own delete. A tag pushed again before that read is not deleted (``TAG_MOVED``); one pushed
again between the read's answer and the delete's arrival still is. This measures, per deleted
tag, at the fake's side of the wire:

* **batch check → delete**: from the answer to the backend's HEAD of the tag to the arrival of
  its delete — the window a delete had with the batch's check alone;
* **read → delete**: from the answer to the deleter's own read of the tag to the arrival of its
  delete — the window left now.

References in the same run, by construction without a window: ``ecr`` (``BatchDeleteImage``
names tag and digest: ECR itself refuses a tag that moved) and ``quay`` without its token (the
Registry API's delete by digest never touches a tag pushed to another image).

    .venv/bin/python bench/vendor_delete_window.py [--tags 200] [--parallel 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.registry import RegistryClient  # noqa: E402
from adapters.registry.vendors import registry_client  # noqa: E402
from adapters.storage.registry_store import RegistryBackend  # noqa: E402
from tests.fixtures.registry import RegistryServer, free_port, require_registry_binary  # noqa: E402

#: label → (fixture module, fake class)
FAKES = {
    "dockerhub": ("tests.fixtures.vendor_dockerhub", "DockerHubFake"),
    "quay": ("tests.fixtures.vendor_quay", "QuayFake"),
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


def fill(server: RegistryServer, path: str, n: int, parallel: int) -> list[str]:
    tags = [f"{i:040x}" for i in range(1, n + 1)]
    with RegistryClient(server.options(parallel=parallel)) as client:
        repo = server.repo(path)
        client.map_concurrent(lambda t: client.push_manifest_only_image(repo, t, {"config": {"Labels": {"n": t}}}), tags)
    return tags


def tag_of(label: str, method: str, path: str) -> tuple[str, str] | None:
    """(kind, tag) of a logged request: ``check`` (the backend's HEAD), ``read`` (the deleter's
    read right before its delete), ``delete``; None for any other request."""
    parts = urllib.parse.urlsplit(path)
    if method == "HEAD" and "/manifests/" in parts.path:
        return "check", parts.path.rsplit("/", 1)[1]
    if label == "dockerhub":
        if parts.path.startswith("/hub/v2/namespaces/") and "/tags/" in parts.path and method == "GET":
            return "read", parts.path.rsplit("/", 1)[1]
        if parts.path.startswith("/hub/v2/repositories/") and method == "DELETE":
            return "delete", parts.path.rstrip("/").rsplit("/", 1)[1]
    if label == "quay" and parts.path.startswith("/api/v1/repository/"):
        specific = urllib.parse.parse_qs(parts.query).get("specificTag")
        if method == "GET" and specific:
            return "read", specific[0]
        if method == "DELETE":
            return "delete", parts.path.rsplit("/", 1)[1]
    return None


def windows(label: str, timeline: list[tuple[float, float, str, str]]) -> tuple[list[float], list[float]]:
    """Per deleted tag: (batch check answered → delete arrived, read answered → delete arrived), seconds."""
    last: dict[tuple[str, str], float] = {}
    from_check: list[float] = []
    from_read: list[float] = []
    for arrived, answered, method, path in sorted(timeline):
        found = tag_of(label, method, path)
        if found is None:
            continue
        kind, tag = found
        if kind == "delete":
            if ("check", tag) in last:
                from_check.append(arrived - last[("check", tag)])
            if ("read", tag) in last:
                from_read.append(arrived - last[("read", tag)])
        else:
            last[(kind, tag)] = answered
    return from_check, from_read


def measure(
    label: str, server: RegistryServer, n: int, parallel: int, work: Path, round_: int
) -> tuple[list[float], list[float]]:
    module, name = FAKES[label]
    fake = getattr(importlib.import_module(module), name)(server)
    try:
        path = f"window/{label}-{round_}"
        tags = fill(server, path, n, parallel)
        env = fake.cli_env(work / f"home-{label}-{round_}")
        with environment(env):
            options = server.options(docker_config=env.get("DOCKER_CONFIG"), parallel=parallel, implementation=label)
            backend = RegistryBackend(registry_client(options))
            mark = len(fake.timeline)
            results = backend.delete(fake.repo(path), [[(tag, None) for tag in tags]], parallel)
            backend.close()
        assert [r.outcome for r in results[0]].count("deleted") == n, "every tag should be deleted"
        return windows(label, fake.timeline[mark:])
    finally:
        fake.close()


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):8.2f} ms   p95 {p95:8.2f} ms   max {ms[-1]:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require_registry_binary()
    work = Path(tempfile.mkdtemp(prefix="stagesweep-bench-window-"))
    server = RegistryServer(root=work / "registry", port=free_port())
    server.root.mkdir(parents=True)
    server.start()
    try:
        print(f"{args.tags} tags deleted as one batch, --parallel-tasks-limit {args.parallel}, {args.rounds} rounds")
        for label in FAKES:
            from_check: list[float] = []
            from_read: list[float] = []
            for round_ in range(args.rounds):
                check, read = measure(label, server, args.tags, args.parallel, work, round_)
                from_check += check
                from_read += read
            ratio = statistics.median(from_check) / statistics.median(from_read)
            print(f"{label}:")
            print(f"  batch check → delete  {summary(from_check)}   ({len(from_check)} deletes)")
            print(f"  read → delete         {summary(from_read)}   ({len(from_read)} deletes)")
            print(f"  the window is {ratio:,.0f}x narrower at the median")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
