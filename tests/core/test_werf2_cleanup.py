"""werf 1.2 / 2.x cleanup decisions (SPEC §13.3) over inventories built as Arrow tables."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from core.cleanup_switches import CleanupSwitches
from core.plan import build_plan, check_plan
from core.werf2_cleanup import decide_repo_cleanup, werf2_keep_policies
from schemas.config import KeepPolicy
from schemas.repo_tables import (
    CUSTOM_TAGS_SCHEMA,
    IMPORT_METADATA_SCHEMA,
    REPO_META_SCHEMA,
    REPO_STAGES_SCHEMA,
    REPO_TAGS_SCHEMA,
    RepoInventory,
)
from schemas.tables import COMMITS_SCHEMA, DECISIONS_SCHEMA, KUBE_IMAGES_SCHEMA, MANAGED_IMAGES_SCHEMA, REFS_SCHEMA

# --------------------------------------------------------------------------- builders

R = "registry.example/acme/app"
F = "registry.example/acme/app-final"
PROJECT = "acme"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=30)
TS = 1_700_000_000_000  # a stage ID's creationTs (Unix ms)


def digest56(label: str) -> str:
    return hashlib.sha3_224(label.encode()).hexdigest()


def sid(label: str) -> str:
    """The stage ID of a stage built from ``label`` (an index's ID has no creationTs)."""
    return digest56(label) if label.startswith("index") else f"{digest56(label)}-{TS}"


def manifest(label: str) -> str:
    return "sha256:" + hashlib.sha256(f"manifest {label}".encode()).hexdigest()


def config(label: str) -> str:
    return "sha256:" + hashlib.sha256(f"config {label}".encode()).hexdigest()


def sha(label: str) -> str:
    """A commit sha from a readable label."""
    return hashlib.sha1(label.encode()).hexdigest()


def stage(
    label: str,
    *,
    parent: str | None = None,
    parent_image: str | None = None,
    imports: Sequence[str] = (),
    checksums: Sequence[str] = (),
    dependencies: Sequence[str] = (),
    platforms: Sequence[str] = (),
    created: datetime | None = OLD,
    rejected: bool = False,
    project: str | None = PROJECT,
    repository: str = R,
) -> dict[str, Any]:
    """A stage row; ``parent``/``imports``/``dependencies``/``platforms`` name other stages by label
    (``parent``: by the werf.io/parent-stage-id label, ``parent_image``: by the config's Image)."""
    stage_id = sid(label)
    return {
        "repository": repository,
        "tag": stage_id,
        "stage_digest": stage_id[:56],
        "creation_ts": 0 if label.startswith("index") else TS,
        "digest": manifest(label),
        "image_id": None if platforms else config(label),
        "parent_image_id": config(parent_image) if parent_image else None,
        "parent_stage_id": sid(parent) if parent else None,
        "import_source_ids": [sid(i) for i in imports],
        "import_checksums": list(checksums),
        "dependency_ids": [sid(d) for d in dependencies],
        "platform_digests": [manifest(p) for p in platforms],
        "created": created,
        "rejected": rejected,
        "rejected_tag": f"{stage_id}-rejected" if rejected else None,
        "rejected_digest": manifest(f"rejected {label}") if rejected else None,
        "size_bytes": 1000 + len(label),
        "project": project,
        "cache_version": None,
    }


def meta(image: str | None, commit: str, stage_label: str, *, stage_id: str | None = None) -> dict[str, Any]:
    """A meta record of image ``image`` (None: an image neither in werf.yaml nor managed) at the
    commit labelled ``commit``, naming the stage built from ``stage_label``."""
    image_id = format(zlib.crc32((image or "gone").encode()), "x")
    stage_id = stage_id or sid(stage_label)
    return {
        "repository": R,
        "tag": f"meta-{image_id}_{sha(commit)}_{stage_id}",
        "image_id": image_id,
        "image_name": image,
        "commit": sha(commit),
        "stage_id": stage_id,
        "digest": manifest(f"meta {image} {commit} {stage_id}"),
    }


def custom(tag: str, stage_label: str, *, present: bool = True, project: str | None = PROJECT) -> dict[str, Any]:
    return {
        "repository": R,
        "custom_tag": tag,
        "custom_tag_digest": manifest(stage_label) if present else None,
        "meta_tag": f"custom-tag-meta-{tag}",
        "meta_digest": manifest(f"custom-tag-meta {tag}"),
        "stage_id": sid(stage_label),
        "project": project,
    }


def import_record(source_id: str, checksum: str, *, source: str | None = None, source_image: str | None = None) -> dict[str, Any]:
    return {
        "repository": R,
        "tag": f"import-metadata-{source_id}",
        "digest": manifest(f"import {source_id}"),
        "import_source_id": source_id,
        "checksum": checksum,
        "source_stage_id": sid(source) if source else None,
        "source_image_id": config(source_image) if source_image else None,
        "project": PROJECT,
    }


def managed(name: str) -> dict[str, Any]:
    return {
        "image_name": name,
        "repository": R,
        "tag": f"managed-image-{name or '__nameless__'}",
        "digest": manifest(f"mi {name}"),
    }


def inventory(
    stages: Iterable[dict[str, Any]] = (),
    metas: Iterable[dict[str, Any]] = (),
    customs: Iterable[dict[str, Any]] = (),
    imports: Iterable[dict[str, Any]] = (),
    managed_names: Iterable[str] = ("app",),
    extra_tags: Iterable[tuple[str, str]] = (),
    unreadable: dict[str, str] | None = None,
    repository: str = R,
) -> RepoInventory:
    """A repository as the adapter reads it; its listing (``tags``) is made from the records."""
    stages, metas, customs, imports = list(stages), list(metas), list(customs), list(imports)
    managed_rows = [managed(n) for n in managed_names]
    tags = [(s["tag"], "multiplatform-stage" if s["creation_ts"] == 0 else "stage", s["digest"]) for s in stages]
    tags += [(s["rejected_tag"], "rejected-marker", s["rejected_digest"]) for s in stages if s["rejected"]]
    tags += [(m["tag"], "image-metadata", m["digest"]) for m in metas]
    tags += [(c["custom_tag"], "custom-tag", c["custom_tag_digest"]) for c in customs if c["custom_tag_digest"]]
    tags += [(c["meta_tag"], "custom-tag-metadata", c["meta_digest"]) for c in customs]
    tags += [(i["tag"], "import-metadata", i["digest"]) for i in imports]
    tags += [(m["tag"], "managed-image", m["digest"]) for m in managed_rows]
    tags += [(t, kind, manifest(t)) for t, kind in extra_tags]
    tags += [(t, "stage", None) for t in (unreadable or {})]
    return RepoInventory(
        repository=repository,
        tags=pa.Table.from_pylist(
            [{"repository": repository, "tag": t, "kind": k, "digest": d} for t, k, d in tags], schema=REPO_TAGS_SCHEMA
        ),
        stages=pa.Table.from_pylist(stages, schema=REPO_STAGES_SCHEMA),
        meta=pa.Table.from_pylist(metas, schema=REPO_META_SCHEMA),
        custom_tags=pa.Table.from_pylist(customs, schema=CUSTOM_TAGS_SCHEMA),
        import_metadata=pa.Table.from_pylist(imports, schema=IMPORT_METADATA_SCHEMA),
        managed=pa.Table.from_pylist(managed_rows, schema=MANAGED_IMAGES_SCHEMA),
        unreadable=dict(unreadable or {}),
    )


def final_inventory(*labels: str, project: str | None = PROJECT) -> RepoInventory:
    return inventory([stage(label, repository=F, project=project) for label in labels], managed_names=(), repository=F)


def commits(*rows: tuple[str, Sequence[str], datetime]) -> pa.Table:
    """Commits from (label, parent labels, committed_at)."""
    data = [{"sha": sha(c), "parents": [sha(p) for p in parents], "committed_at": at} for c, parents, at in rows]
    return pa.Table.from_pylist(data, schema=COMMITS_SCHEMA)


def refs(*rows: tuple[str, str, str, datetime]) -> pa.Table:
    """Refs from (name, kind, commit label, date)."""
    data = [{"name": n, "kind": k, "commit": sha(c), "date": d} for n, k, c, d in rows]
    return pa.Table.from_pylist(data, schema=REFS_SCHEMA)


#: a main branch of three commits c1 <- c2 <- c3 (the head)
HISTORY = commits(
    ("c1", [], NOW - timedelta(days=3)),
    ("c2", ["c1"], NOW - timedelta(days=2)),
    ("c3", ["c2"], NOW - timedelta(days=1)),
)
MAIN = refs(("main", "branch", "c3", NOW - timedelta(days=1)))


def kube(*images: str) -> pa.Table:
    rows = [
        {"context": "prod", "namespace": "web", "kind": "Deployment", "name": f"app{i}", "container": "app", "image": image}
        for i, image in enumerate(images)
    ]
    return pa.Table.from_pylist(rows, schema=KUBE_IMAGES_SCHEMA)


def switches(*, disabled: bool = False, git_history: bool = True) -> CleanupSwitches:
    return CleanupSwitches(git_history=git_history, stages_window=timedelta(0), images_window=None, disabled=disabled)


def decide(
    repo: RepoInventory,
    final: RepoInventory | None = None,
    *,
    werf_images: Sequence[str] = ("app",),
    refs_table: pa.Table | None = MAIN,
    commits_table: pa.Table | None = HISTORY,
    keep_policies: Sequence[KeepPolicy] | None = None,
    kube_images: pa.Table | None = None,
    window_hours: float = 0,
    keep_list: Sequence[str] = (),
    run_switches: CleanupSwitches | None = None,
) -> pa.Table:
    decisions = decide_repo_cleanup(
        repo,
        final,
        project=PROJECT,
        werf_images=list(werf_images),
        refs=refs_table,
        commits=commits_table,
        policies=werf2_keep_policies(keep_policies),
        kube=kube_images,
        now=NOW,
        window_hours=window_hours,
        keep_list=list(keep_list),
        switches=run_switches or switches(),
    )
    assert decisions.schema == DECISIONS_SCHEMA
    return decisions


def rows(decisions: pa.Table, item_type: str = "stage") -> dict[str, tuple[str, str]]:
    """{tag: (action, reason)} of one item type."""
    return {r["tag"]: (r["action"], r["reason"]) for r in decisions.to_pylist() if r["item_type"] == item_type}


def row(decisions: pa.Table, tag: str, item_type: str = "stage") -> dict[str, Any]:
    (found,) = [r for r in decisions.to_pylist() if r["tag"] == tag and r["item_type"] == item_type]
    return found


def deleted_tags(decisions: pa.Table) -> set[str]:
    return {r["tag"] for r in decisions.to_pylist() if r["action"] == "delete"}


KEEP, DELETE = "keep", "delete"


# --------------------------------------------------------------------------- 1. cleanup disabled


def test_cleanup_disabled_deletes_only_managed_image_and_meta_records():
    repo = inventory(
        [stage("a"), stage("b", rejected=True)],
        [meta("app", "c1", "a"), meta(None, "c2", "b")],
        [custom("v1", "a")],
        [import_record("i1", "x", source="a")],
        managed_names=("app", ""),
    )
    decisions = decide(repo, final_inventory("a"), refs_table=None, commits_table=None, run_switches=switches(disabled=True))
    deletes = [(r["item_type"], r["reason"]) for r in decisions.to_pylist() if r["action"] == DELETE]
    assert sorted(deletes) == [("image-metadata", "cleanup-disabled")] * 2 + [("managed-image", "cleanup-disabled")] * 2
    assert rows(decisions) == {sid("a"): (KEEP, "cleanup-disabled"), sid("b"): (KEEP, "cleanup-disabled")}
    assert rows(decisions, "final-stage") == {sid("a"): (KEEP, "cleanup-disabled")}
    assert row(decisions, "managed-image-__nameless__", "managed-image")["image_name"] == "~"


# --------------------------------------------------------------------------- 3. Kubernetes


def test_stage_used_by_a_workload_is_kept_naming_the_workload():
    repo = inventory([stage("a"), stage("b")])
    decisions = decide(repo, kube_images=kube(f"{R}:{sid('a')}"))
    assert rows(decisions) == {sid("a"): (KEEP, "used-in-kubernetes"), sid("b"): (DELETE, "unused-stage")}
    assert row(decisions, sid("a"))["detail"] == "prod/web/Deployment/app0 container=app"


def test_digest_pinned_workload_image_protects_its_stage():
    repo = inventory([stage("a"), stage("b"), stage("c")])
    decisions = decide(repo, kube_images=kube(f"{R}@{manifest('a')}", f"{R}:whatever@{manifest('b')}"))
    assert rows(decisions) == {
        sid("a"): (KEEP, "used-in-kubernetes"),
        sid("b"): (KEEP, "used-in-kubernetes"),
        sid("c"): (DELETE, "unused-stage"),
    }


def test_custom_tag_used_by_deployment_protects_its_stage():
    repo = inventory([stage("a"), stage("b")], customs=[custom("v1.0", "a"), custom("v0.9", "a"), custom("old", "b")])
    decisions = decide(repo, kube_images=kube(f"{R}:v1.0"))
    assert rows(decisions) == {sid("a"): (KEEP, "used-in-kubernetes"), sid("b"): (DELETE, "unused-stage")}
    assert "custom tag v1.0 is used by prod/web/Deployment/app0" in row(decisions, sid("a"))["detail"]
    assert rows(decisions, "custom-tag") == {
        "v1.0": (KEEP, "used-in-kubernetes"),
        "v0.9": (KEEP, "used-in-kubernetes"),
        "old": (DELETE, "stage-deleted"),
    }
    assert row(decisions, "v0.9", "custom-tag")["detail"].startswith(f"its stage {sid('a')} stays")
    assert rows(decisions, "custom-tag-metadata")["custom-tag-meta-v1.0"] == (KEEP, "used-in-kubernetes")
    plan = build_plan([decisions])
    assert "v1.0" not in deleted_tags(plan) and "v0.9" not in deleted_tags(plan)


def test_custom_tag_used_by_a_workload_is_never_deleted_even_when_its_stage_is_gone():
    repo = inventory([stage("b")], customs=[custom("live", "gone"), custom("sibling", "gone"), custom("stale", "gone2")])
    decisions = decide(repo, kube_images=kube(f"{R}:live"))
    assert rows(decisions, "custom-tag") == {
        "live": (KEEP, "used-in-kubernetes"),
        "sibling": (KEEP, "used-in-kubernetes"),
        "stale": (DELETE, "nonexistent-stage"),
    }
    assert "custom tag live of the same stage ID is used by" in row(decisions, "sibling", "custom-tag")["detail"]
    plan = build_plan([decisions])
    check_plan(plan)
    assert deleted_tags(plan) == {sid("b"), "stale", "custom-tag-meta-stale"}


def test_final_stage_used_by_a_workload_is_kept():
    repo = inventory([stage("a")])
    decisions = decide(repo, final_inventory("a", "b"), kube_images=kube(f"{F}:{sid('b')}", f"{F}@{manifest('a')}"))
    assert rows(decisions, "final-stage") == {sid("a"): (KEEP, "used-in-kubernetes"), sid("b"): (KEEP, "used-in-kubernetes")}


def test_workload_images_are_compared_in_canonical_form():
    hub = "docker.io/acme/app"
    repo = inventory([stage(label, repository=hub) for label in ("a", "b", "c")], managed_names=(), repository=hub)
    images = kube(f"index.docker.io/acme/app:{sid('a')}", f"acme/app@{manifest('b').upper()}", f"acme/other:{sid('c')}")
    assert rows(decide(repo, kube_images=images)) == {
        sid("a"): (KEEP, "used-in-kubernetes"),
        sid("b"): (KEEP, "used-in-kubernetes"),
        sid("c"): (DELETE, "unused-stage"),
    }


def test_a_workload_of_another_repository_protects_nothing():
    repo = inventory([stage("a")])
    decisions = decide(repo, kube_images=kube(f"registry.example/other:{sid('a')}"))
    assert rows(decisions) == {sid("a"): (DELETE, "unused-stage")}
