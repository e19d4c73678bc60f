"""The world of the cleanup benchmarks: one project's werf v1.1 records at size (end images
tagged by commit, their stages, metadata records and the managed-image record), or a werf 1.2 /
2.x repository at size (stages, their meta records, a few custom tags with their metadata, the
managed-image record, as :class:`Werf2Publisher` writes them), pushed to a registry with a stdlib
``http.client`` pusher on many threads (``cleanup_scale.py``, ``fleet_world.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.storage import codec  # noqa: E402


def sha(text: str, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, text.encode()).hexdigest()


def world_items(host: str, project: str, n: int, real_commits: list[str], now: dt.datetime):
    """(repository path, tag, config, manifest, kind) of every record of one project's world."""
    stages, images = f"bench/{project}/stages", f"bench/{project}/images/app"
    keep = len(real_commits)
    base_parent = "sha256:" + sha("base image")
    items = []
    for i in range(n):
        commit = real_commits[i - (n - keep)] if i >= n - keep else sha(f"{project}/commit/{i}", "sha1")
        signature = sha(f"{project}/stage/{i}", "sha3_224")
        content = sha(f"{project}/content/{i}", "sha3_224")
        created = now - dt.timedelta(days=30) + dt.timedelta(seconds=i)
        stage_tag = codec.format_stage_tag(signature, int(created.timestamp() * 1000))
        labels = codec.stage_labels(project, signature, f"{host}/{stages}:{stage_tag}", content_signature=content)
        stage_config = codec.image_config(labels, created, parent=base_parent)
        end_labels = {
            **labels,
            **codec.end_image_labels("app", commit, content, f"{host}/{images}:{commit}", tag_strategy="git-commit"),
        }
        end_config = codec.image_config(end_labels, created, parent=codec.image_id(stage_config))
        meta_config = codec.image_config(codec.metadata_labels(project, content), created)
        items.append((stages, stage_tag, stage_config, "stage"))
        items.append((images, commit, end_config, "image-tag"))
        items.append((stages, codec.metadata_tag("app", commit), meta_config, "image-metadata"))
    items.append(
        (stages, codec.managed_image_tag("app"), codec.image_config(codec.managed_image_labels(project), now), "managed-image")
    )
    return [
        (repo, tag, config, codec.image_manifest(config, codec.DOCKER_MEDIA_TYPES), kind) for repo, tag, config, kind in items
    ]


class _Recorder:
    """A storage backend that keeps what a publisher writes, as (repository, tag, config, kind)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, bytes, str]] = []
        self._by_tag: dict[str, bytes] = {}

    @contextlib.contextmanager
    def batch(self):
        yield

    def put_image(self, repository: str, tag: str, config: bytes) -> None:
        kind = next((kind for prefix, kind in _RECORD_KINDS if tag.startswith(prefix)), "stage")
        self.items.append((repository, tag, config, kind))
        self._by_tag[tag] = config

    def copy_tag(self, repository: str, tag: str, new_tag: str) -> None:
        self.items.append((repository, new_tag, self._by_tag[tag], "custom-tag"))


_RECORD_KINDS = (("meta-", "meta"), ("custom-tag-meta-", "custom-tag-meta"), ("managed-image-", "managed-image"))


def werf2_world_items(project: str, n: int, real_commits: list[str], now: dt.datetime, custom_tags: int = 5):
    """(repository path, tag, config, manifest, kind) of a werf 1.2 / 2.x repository: ``n`` builds
    of image ``app`` (one stage each, its meta record at its commit; the last ``len(real_commits)``
    at the commits git has), ``custom_tags`` custom tags (with their metadata) on the newest
    builds, and the managed-image record. Kinds: stage, meta, custom-tag, custom-tag-meta,
    managed-image."""
    from adapters.storage.werf2_publisher import Werf2Publisher

    keep = len(real_commits)
    recorder = _Recorder()
    publisher = Werf2Publisher(recorder, f"bench/{project}/repo", project)
    builds = []
    for i in range(n):
        commit = real_commits[i - (n - keep)] if i >= n - keep else sha(f"{project}/commit/{i}", "sha1")
        build = publisher.build("app", built_at=now - dt.timedelta(days=30) + dt.timedelta(seconds=10 * i), n_stages=1)
        publisher.publish(build, commit)
        builds.append(build)
    for k in range(custom_tags):
        publisher.custom_tag(builds[n - 1 - k % keep], f"v1.{k}.0")
    publisher.manage("app")
    return [
        (repo, tag, config, codec.image_manifest(config, codec.DOCKER_MEDIA_TYPES), kind)
        for repo, tag, config, kind in recorder.items
    ]


class Http:
    """One keep-alive ``http.client`` connection per thread."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._local = threading.local()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, timeout=120)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, response, data


def push(http_: Http, item) -> None:
    repo, tag, config, manifest, _ = item
    status, response, _ = http_.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202, status
    location = urllib.parse.urlsplit(response.getheader("Location"))
    query = urllib.parse.parse_qsl(location.query) + [("digest", codec.digest_of(config))]
    path = f"{location.path}?{urllib.parse.urlencode(query)}"
    status, _, _ = http_.request("PUT", path, config, {"Content-Type": "application/octet-stream"})
    assert status == 201, status
    status, _, body = http_.request(
        "PUT", f"/v2/{repo}/manifests/{tag}", manifest, {"Content-Type": codec.DOCKER_MEDIA_TYPES.manifest}
    )
    assert status == 201, (status, body[:200])


def run_parallel(threads: int, fn, items) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(fn, items):
            pass
    return time.perf_counter() - started
