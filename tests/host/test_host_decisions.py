"""Host cleaning decisions (core/host.py) over hand-made inventories: no daemon needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from adapters.docker_host import CONTAINERS_SCHEMA, LOCAL_IMAGES_SCHEMA
from adapters.home_dir import HOME_ENTRIES_SCHEMA
from core.host import VolumeLimit, decide_host_cleanup, decide_host_purge

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GB = 1 << 30
WERF = {"werf": "acme"}


def image(
    ident: str, tags: list[str], *, age: timedelta, used: timedelta | None = None, labels: dict | None = None, size: int = GB
) -> dict:
    created = NOW - age
    return {
        "id": f"sha256:{ident}",
        "tags": tags,
        "labels": WERF if labels is None else labels,
        "created": created,
        "size": size,
        "last_used": NOW - used if used is not None else created,
        "containers": [],
    }


def container(name: str, image_id: str, *, running: bool, labels: dict | None = None) -> dict:
    return {
        "id": f"id-{name}",
        "name": name,
        "image": None,
        "image_id": f"sha256:{image_id}",
        "running": running,
        "state": "running" if running else "exited",
        "labels": labels or {},
        "created": NOW - timedelta(hours=1),
        "started_at": None,
        "finished_at": None,
    }


def entry(area: str, name: str, *, age: timedelta, size: int = GB) -> dict:
    return {
        "area": area,
        "repository": f"/home/{area}",
        "name": name,
        "size": size,
        "modified": NOW - age,
        "last_used": NOW - age,
    }


def table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def cleanup(containers=(), images=(), entries=(), docker=(50 * GB, 100 * GB), cache=(10 * GB, 100 * GB), **kw):
    return decide_host_cleanup(
        table(list(containers), CONTAINERS_SCHEMA),
        table(list(images), LOCAL_IMAGES_SCHEMA),
        docker,
        table(list(entries), HOME_ENTRIES_SCHEMA),
        cache,
        NOW,
        **kw,
    ).to_pylist()


def by_tag(rows: list[dict]) -> dict[str, dict]:
    return {r["tag"]: r for r in rows}


def deleted_tags(rows: list[dict]) -> list[str]:
    return [r["tag"] for r in rows if r["action"] == "delete"]


def test_lru_removes_least_recently_used_until_usage_is_below_allowed_minus_margin() -> None:
    images = [
        image("a", ["r/a:1"], age=timedelta(days=9), used=timedelta(hours=1), size=10 * GB),
        image("b", ["r/b:1"], age=timedelta(days=3), size=10 * GB),
        image("c", ["r/c:1"], age=timedelta(days=5), size=10 * GB),
        image("d", ["r/d:1"], age=timedelta(days=1), size=10 * GB),
    ]

    rows = cleanup(images=images, docker=(80 * GB, 100 * GB), docker_limit=VolumeLimit(70, 5))

    # 80% → 70% → 60% (below 70 − 5): two images go, the least recently used ones (c, then b);
    # a is the oldest build but was used an hour ago
    assert deleted_tags(rows) == ["1", "1"]
    gone = [r["repository"] for r in rows if r["action"] == "delete"]
    assert gone == ["r/c", "r/b"]
    assert {r["reason"] for r in rows if r["action"] == "delete"} == {"storage-volume-usage"}
    kept = {r["repository"]: r for r in rows if r["action"] == "keep"}
    assert set(kept) == {"r/a", "r/d"}
    assert "below the target 65%" in kept["r/a"]["detail"]


def test_no_image_goes_for_volume_usage_within_the_allowed_limit() -> None:
    rows = cleanup(images=[image("a", ["r/a:1"], age=timedelta(days=9))], docker=(69 * GB, 100 * GB))

    assert deleted_tags(rows) == []
    assert "within the allowed 70%" in rows[0]["detail"]


def test_image_younger_than_15_minutes_stays_even_on_a_full_volume() -> None:
    rows = cleanup(
        images=[image("new", [], age=timedelta(minutes=5)), image("fresh", ["r/f:1"], age=timedelta(minutes=14))],
        docker=(99 * GB, 100 * GB),
        docker_limit=VolumeLimit(0, 0),
    )

    assert deleted_tags(rows) == []
    assert all("younger than 15 minutes" in r["detail"] for r in rows)


def test_dangling_werf_image_older_than_15_minutes_goes_whatever_the_usage() -> None:
    rows = cleanup(images=[image("old", [], age=timedelta(minutes=30)), image("foreign", [], age=timedelta(days=2), labels={})])

    old, foreign = by_tag(rows)["sha256:old"], by_tag(rows)["sha256:foreign"]
    assert (old["action"], old["reason"], old["repository"]) == ("delete", "host-cleanup", "<none>")
    assert (foreign["action"], foreign["detail"]) == ("keep", "not a werf image (no `werf` label)")


def test_image_of_a_running_container_stays_and_of_a_removed_build_container_goes() -> None:
    rows = cleanup(
        containers=[
            container("app", "run", running=True),
            container("werf.build.1", "built", running=False),
            container("werf.build.2", "building", running=True),
        ],
        images=[
            image("run", ["r/run:1"], age=timedelta(days=2)),
            image("built", ["r/built:1"], age=timedelta(days=2)),
            image("building", ["r/building:1"], age=timedelta(days=2)),
        ],
        docker=(99 * GB, 100 * GB),
        docker_limit=VolumeLimit(0, 0),
    )

    decided = {(r["item_type"], r["tag"]): r for r in rows}
    assert decided[("container", "werf.build.1")]["action"] == "delete"
    assert decided[("container", "werf.build.2")]["detail"] == "running werf build container"
    assert decided[("container", "app")]["detail"] == "not a werf build container (werf.build.*)"
    images = {r["repository"]: r for r in rows if r["item_type"] == "local-image"}
    assert images["r/built"]["action"] == "delete"
    assert (images["r/run"]["reason"], images["r/run"]["detail"]) == ("used-by-container", "used by container app")
    assert images["r/building"]["detail"] == "used by container werf.build.2"


def test_every_reference_of_a_removed_image_gets_a_row() -> None:
    rows = cleanup(
        images=[image("two", ["werf-stages-storage/acme:s1", "r/app:v1"], age=timedelta(days=2))],
        docker=(99 * GB, 100 * GB),
        docker_limit=VolumeLimit(0, 0),
    )

    assert sorted((r["repository"], r["tag"], r["digest"], r["action"]) for r in rows) == [
        ("r/app", "v1", "sha256:two", "delete"),
        ("werf-stages-storage/acme", "s1", "sha256:two", "delete"),
    ]


def test_local_storage_records_stay_in_cleanup() -> None:
    rows = cleanup(
        images=[image("rec", ["werf-managed-images/acme:app"], age=timedelta(days=30))],
        docker=(99 * GB, 100 * GB),
        docker_limit=VolumeLimit(0, 0),
    )

    assert rows[0]["action"] == "keep"
    assert "host purge removes it" in rows[0]["detail"]


def test_temp_files_older_than_a_day_go_and_younger_ones_stay() -> None:
    rows = cleanup(entries=[entry("tmp", "old.txt", age=timedelta(hours=25)), entry("tmp", "new.txt", age=timedelta(hours=23))])

    assert by_tag(rows)["old.txt"]["action"] == "delete"
    assert by_tag(rows)["old.txt"]["reason"] == "host-cleanup"
    assert by_tag(rows)["new.txt"]["action"] == "keep"


def test_cache_entries_go_least_recently_used_first_above_the_cache_limit() -> None:
    entries = [
        entry("cache", "git-a", age=timedelta(hours=3), size=2 * GB),
        entry("cache", "git-b", age=timedelta(days=2), size=2 * GB),
        entry("cache", "git-c", age=timedelta(minutes=5), size=2 * GB),
        entry("cache", "git-d", age=timedelta(hours=1), size=2 * GB),
    ]

    rows = cleanup(entries=entries, cache=(76 * GB, 100 * GB), cache_limit=VolumeLimit(75, 2))

    assert deleted_tags(rows) == ["git-b", "git-a"]  # 76% → 74% → 72%, below 75 − 2
    assert by_tag(rows)["git-c"]["detail"] == "cache entry used within the last 15 minutes"


def test_old_temp_files_count_towards_the_freed_cache_space() -> None:
    entries = [entry("tmp", "big", age=timedelta(days=2), size=11 * GB), entry("cache", "c", age=timedelta(days=3))]

    rows = cleanup(entries=entries, cache=(75 * GB, 100 * GB))

    assert deleted_tags(rows) == ["big"]  # 75% → 64%, below 70 − 5, without touching the cache


def purge(containers=(), images=(), entries=(), force=False):
    return decide_host_purge(
        table(list(containers), CONTAINERS_SCHEMA),
        table(list(images), LOCAL_IMAGES_SCHEMA),
        table(list(entries), HOME_ENTRIES_SCHEMA),
        force=force,
    ).to_pylist()


def test_purge_without_force_keeps_running_werf_containers_and_their_images() -> None:
    state = dict(
        containers=[container("werf.build.1", "a", running=True), container("werf.build.2", "b", running=False)],
        images=[image("a", ["r/a:1"], age=timedelta(days=1)), image("b", ["r/b:1"], age=timedelta(minutes=1))],
    )

    rows = {(r["item_type"], r["tag"]): r for r in purge(**state)}
    forced = {(r["item_type"], r["tag"]): r["action"] for r in purge(**state, force=True)}

    assert rows[("container", "werf.build.1")]["action"] == "keep"
    assert "--force" in rows[("container", "werf.build.1")]["detail"]
    images = {r["repository"]: r for r in purge(**state) if r["item_type"] == "local-image"}
    assert images["r/a"]["action"] == "keep" and images["r/a"]["reason"] == "used-by-container"
    assert images["r/b"]["action"] == "delete", "purge ignores the 15 minutes guard"
    assert rows[("container", "werf.build.2")]["action"] == "delete"
    assert set(forced.values()) == {"delete"}


def test_purge_takes_local_storage_references_and_werf_images_but_not_foreign_ones() -> None:
    rows = purge(
        images=[
            image("stage", ["werf-stages-storage/acme:s1", "mine:latest"], age=timedelta(days=1), labels={}),
            image("foreign", ["ubuntu:22.04"], age=timedelta(days=1), labels={}),
            image("dangling", [], age=timedelta(days=1)),
        ],
        containers=[container("web", "foreign", running=True)],
        entries=[entry("tmp", "x/y", age=timedelta(0)), entry("cache", "c", age=timedelta(0))],
    )

    decided = {(r["repository"], r["tag"]): (r["action"], r["reason"]) for r in rows}
    assert decided[("werf-stages-storage/acme", "s1")] == ("delete", "purge")
    assert decided[("mine", "latest")] == ("keep", "purge")
    assert decided[("ubuntu", "22.04")] == ("keep", "purge")
    assert decided[("<none>", "sha256:dangling")] == ("delete", "purge")
    assert decided[("docker", "web")] == ("keep", "purge")
    assert decided[("/home/tmp", "x/y")] == ("delete", "purge")
    assert decided[("/home/cache", "c")] == ("delete", "purge")
