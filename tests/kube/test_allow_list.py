"""Matching images-repo tags against the images Kubernetes workloads run."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from core.allow_list import USED_TAGS_SCHEMA, match_used_tags, normalise_image
from schemas.tables import IMAGE_TAGS_SCHEMA, KUBE_IMAGES_SCHEMA

REPO = "127.0.0.1:5000/acme/app"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def tags_table(rows: list[tuple[str, str, str]]) -> pa.Table:
    """(repository, tag, digest) rows as an IMAGE_TAGS_SCHEMA table."""
    return pa.Table.from_pylist(
        [
            {
                "image_name": "app",
                "repository": repo,
                "tag": tag,
                "digest": digest,
                "content_signature": None,
                "parent_id": None,
                "created": None,
            }
            for repo, tag, digest in rows
        ],
        schema=IMAGE_TAGS_SCHEMA,
    )


def kube_table(rows: list[tuple[str, ...]]) -> pa.Table:
    """(context, namespace, kind, name, container, image) rows, or (image,) for a default user."""
    full = [r if len(r) == 6 else ("ctx", "default", "Deployment", "web", "app", r[0]) for r in rows]
    return pa.Table.from_pylist([dict(zip(KUBE_IMAGES_SCHEMA.names, r)) for r in full], schema=KUBE_IMAGES_SCHEMA)


def used(tags: pa.Table, kube: pa.Table) -> set[tuple[str, str]]:
    result = match_used_tags(tags, kube)
    assert result.schema == USED_TAGS_SCHEMA
    return set(zip(result["repository"].to_pylist(), result["tag"].to_pylist()))


@pytest.mark.parametrize(
    "ref",
    [
        "nginx",
        "library/nginx",
        "docker.io/nginx",
        "docker.io/library/nginx",
        "index.docker.io/library/nginx",
        "index.docker.io/nginx",
        "registry-1.docker.io/library/nginx",
        "Docker.IO/library/nginx",
    ],
)
def test_normalises_every_docker_hub_spelling_to_one_repository(ref: str) -> None:
    assert normalise_image(ref + ":1.25") == ("docker.io/library/nginx", "1.25", None)


def test_normalises_user_repositories_on_docker_hub_without_library_prefix() -> None:
    assert normalise_image("acme/app:v1")[0] == "docker.io/acme/app"
    assert normalise_image("index.docker.io/acme/app")[0] == "docker.io/acme/app"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("127.0.0.1:5000/acme/app", ("127.0.0.1:5000/acme/app", None, None)),
        ("localhost:5000/app:v1", ("localhost:5000/app", "v1", None)),
        ("localhost/app", ("localhost/app", None, None)),
        ("registry.example.com/a/b/c:main-1", ("registry.example.com/a/b/c", "main-1", None)),
        (f"{REPO}@{D1.upper().replace('SHA256', 'sha256')}", (REPO, None, D1)),
        (f"{REPO}:v1@{D1}", (REPO, "v1", D1)),
        (" nginx@" + D2, ("docker.io/library/nginx", None, D2)),
    ],
)
def test_splits_registry_port_tag_and_digest(ref: str, expected: tuple) -> None:
    assert normalise_image(ref) == expected


def test_matches_exact_repo_and_tag() -> None:
    tags = tags_table([(REPO, "v1", D1), (REPO, "v2", D2)])
    assert used(tags, kube_table([(f"{REPO}:v1",)])) == {(REPO, "v1")}


def test_matches_docker_hub_tag_whatever_the_spelling_on_either_side() -> None:
    tags = tags_table([("acme/app", "v1", D1), ("index.docker.io/library/nginx", "1.25", D2)])
    kube = kube_table([("docker.io/acme/app:v1",), ("nginx:1.25",)])
    assert used(tags, kube) == {("acme/app", "v1"), ("index.docker.io/library/nginx", "1.25")}


def test_matches_tag_through_its_manifest_digest() -> None:
    tags = tags_table([(REPO, "v1", D1), (REPO, "v2", D2)])
    assert used(tags, kube_table([(f"{REPO}@{D2}",)])) == {(REPO, "v2")}


def test_digest_reference_marks_every_tag_sharing_that_manifest() -> None:
    tags = tags_table([(REPO, "v1", D1), (REPO, "main", D1), (REPO, "v2", D2)])
    assert used(tags, kube_table([(f"{REPO}@{D1}",)])) == {(REPO, "v1"), (REPO, "main")}


def test_tag_and_digest_reference_matches_when_either_part_matches() -> None:
    tags = tags_table([(REPO, "v1", D1), (REPO, "v2", D2), (REPO, "v3", D3)])
    by_tag = kube_table([(f"{REPO}:v1@sha256:{'9' * 64}",)])
    by_digest = kube_table([(f"{REPO}:gone@{D2}",)])
    both = kube_table([(f"{REPO}:v1@{D3}",)])
    assert used(tags, by_tag) == {(REPO, "v1")}
    assert used(tags, by_digest) == {(REPO, "v2")}
    assert used(tags, both) == {(REPO, "v1"), (REPO, "v3")}


def test_image_without_tag_or_digest_uses_latest() -> None:
    tags = tags_table([(REPO, "latest", D1), (REPO, "v1", D2)])
    assert used(tags, kube_table([(REPO,)])) == {(REPO, "latest")}


def test_does_not_match_foreign_repositories() -> None:
    tags = tags_table([(REPO, "v1", D1)])
    foreign = kube_table(
        [
            ("other.example.com/acme/app:v1",),
            ("127.0.0.1:5001/acme/app:v1",),
            (f"{REPO}-extra:v1",),
            (f"{REPO}/sub:v1",),
            ("acme/app:v1",),
            (f"127.0.0.1:5000/acme/other@{D1}",),
            (f"{REPO}:v10",),
        ]
    )
    assert used(tags, foreign) == set()


def test_detail_names_the_first_user_in_sorted_order() -> None:
    tags = tags_table([(REPO, "v1", D1)])
    kube = kube_table(
        [
            ("prod", "web", "Pod", "web-1", "app", f"{REPO}@{D1}"),
            ("prod", "web", "Deployment", "web", "app", f"{REPO}:v1"),
            ("dev", "zeta", "CronJob", "nightly", "migrate", f"{REPO}:v1"),
        ]
    )
    result = match_used_tags(tags, kube)
    assert result.to_pylist() == [{"repository": REPO, "tag": "v1", "detail": "dev/zeta/CronJob/nightly container=migrate"}]


def test_nothing_is_used_when_either_side_is_empty() -> None:
    tags = tags_table([(REPO, "v1", D1)])
    assert match_used_tags(tags, KUBE_IMAGES_SCHEMA.empty_table()).num_rows == 0
    assert match_used_tags(IMAGE_TAGS_SCHEMA.empty_table(), kube_table([(f"{REPO}:v1",)])).num_rows == 0
    assert match_used_tags(tags, kube_table([("busybox",)])).schema == USED_TAGS_SCHEMA


def test_matches_100k_tags_against_10k_workloads_in_about_a_second() -> None:
    n_tags = 100_000
    tags = tags_table([(f"{REPO}{i % 10}", f"t{i}", f"sha256:{i:064x}") for i in range(n_tags)])
    images = [(f"{REPO}{i % 10}:t{i}",) for i in range(0, n_tags, 20)]  # 5,000 by tag
    images += [(f"{REPO}{i % 10}@sha256:{i:064x}",) for i in range(1, n_tags, 20)]  # 5,000 by digest
    kube = kube_table(images)
    started = time.perf_counter()
    result = match_used_tags(tags, kube)
    elapsed = time.perf_counter() - started
    assert result.num_rows == 10_000
    assert elapsed < 5, f"matching took {elapsed:.2f}s"
