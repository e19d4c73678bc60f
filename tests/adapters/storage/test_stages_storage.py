"""The stages storage interface, run against the registry, OCI layout and :local backends."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from adapters.storage import codec
from adapters.storage.publisher import Publisher, at, base_image_id

T0 = at("2024-05-01T10:00:00")
COMMITS = [f"{i:040x}" for i in range(1, 6)]


def rows_by_tag(table) -> dict[str, dict]:
    return {row["tag"]: row for row in table.to_pylist()}


def row_for(storage, tag: str, item_type: str, digest: str | None = None) -> dict:
    repository, stored = storage._location(tag)
    return {"repository": repository, "tag": stored, "digest": digest, "item_type": item_type}


def test_stage_chain_round_trips_with_parents_imports_and_created(backend) -> None:
    stages = backend.stages()
    with Publisher(stages) as pub:
        base = pub.build("base", built_at=T0, n_stages=2)
        app = pub.build("app", built_at=T0 + timedelta(hours=1), n_stages=3, imports=[base])

    listed = rows_by_tag(stages.list_stages())

    assert set(listed) == set(base.stage_tags + app.stage_tags)
    first, middle, last = (listed[s.tag] for s in app.stages)
    assert first["parent_id"] == base_image_id("app")
    assert middle["parent_id"] == app.stages[0].image_id
    assert last["parent_id"] == app.stages[1].image_id
    assert last["import_ids"] == [base.last_image_id]
    assert first["import_ids"] == []
    for stage in app.stages:
        row = listed[stage.tag]
        assert row["image_id"] == stage.image_id
        assert (row["signature"], row["unique_id"]) == (stage.signature, stage.unique_id)
        assert row["created"] == stage.created
        assert row["rejected"] is False and row["rejected_tag"] is None
        assert row["repository"] == stages.repository if backend.kind != "local" else f"werf-stages-storage/{backend.project}"
        assert row["digest"]


def test_rebuild_reuses_cached_stages_of_an_earlier_build(backend) -> None:
    stages = backend.stages()
    with Publisher(stages) as pub:
        first = pub.build("app", built_at=T0, n_stages=3)
        second = pub.build("app", built_at=T0 + timedelta(days=1), base=first, reuse=2)

    listed = rows_by_tag(stages.list_stages())

    assert second.stages[:2] == first.stages[:2]
    assert len(listed) == 4
    assert listed[second.stages[2].tag]["parent_id"] == first.stages[1].image_id
    assert second.content_signature != first.content_signature


def test_rejected_marker_is_reported_on_its_stage(backend) -> None:
    stages = backend.stages()
    with Publisher(stages) as pub:
        app = pub.build("app", built_at=T0, n_stages=2)
        marker = pub.reject(app.stages[1])

    listed = rows_by_tag(stages.list_stages())

    assert set(listed) == set(app.stage_tags), "a marker is not a stage"
    broken = listed[app.stages[1].tag]
    assert broken["rejected"] is True
    assert broken["rejected_tag"] == marker == f"{app.stages[1].tag}-rejected"
    assert broken["rejected_digest"] == stages.tag_digests()[marker]
    assert listed[app.stages[0].tag]["rejected"] is False


def test_stages_werf_1_2_built_are_signs_of_another_format_and_each_stage_names_its_project(backend) -> None:
    stages = backend.stages()
    ms = int(T0.timestamp() * 1000)
    stages.write_stage("a" * 56, ms, None)
    stages.write_stage("b" * 56, ms, None, {"werf": "beta"})
    stages.write_stage("c" * 56, ms, None, {"werf-cache-version": "1.2", "werf-stage-content-digest": "d" * 56})

    listed, _, signs = stages.read_stages()

    projects = {row["signature"][0]: row["project"] for row in listed.to_pylist()}
    assert projects == {"a": backend.project, "b": "beta", "c": backend.project}
    assert [(row["tag"], row["sign"]) for row in signs.to_pylist()] == [
        (codec.format_stage_tag("c" * 56, ms), "a stage of werf cache version 1.2 (label werf-cache-version)")
    ]
    assert stages.newer_format_records().num_rows == 0


def test_metadata_records_round_trip_for_every_kind_of_image_name(backend) -> None:
    stages = backend.stages()
    long_name = "long-name-" * 12
    names = ["app", "backend/api", "", long_name]
    with Publisher(stages) as pub:
        built = {name: pub.build(name, built_at=T0, n_stages=1) for name in names}
        for i, name in enumerate(names):
            pub.record_commit(built[name], COMMITS[i])
            pub.record_commit(built[name], COMMITS[4])

    everything = stages.list_metadata(names).to_pylist()
    only_api = stages.list_metadata(["backend/api"]).to_pylist()

    assert sorted((r["image_name"], r["commit"], r["content_signature"]) for r in everything) == sorted(
        (name, commit, built[name].content_signature) for i, name in enumerate(names) for commit in (COMMITS[i], COMMITS[4])
    )
    assert {(r["image_name"], r["commit"]) for r in only_api} == {("backend/api", COMMITS[1]), ("backend/api", COMMITS[4])}
    assert all(r["digest"] and len(r["tag"]) <= 128 for r in everything)
    digests = [r["digest"] for r in everything]
    assert len(set(digests)) == len(digests), "every record has its own digest"


def test_managed_images_are_added_listed_and_removed(backend) -> None:
    stages = backend.stages()
    for name in ["app", "~", "backend/api"]:
        stages.add_managed_image(name)

    listed = stages.list_managed_images().to_pylist()
    removed = stages.rm_managed_image("app")
    removed_again = stages.rm_managed_image("app")

    assert sorted(r["image_name"] for r in listed) == ["", "app", "backend/api"]
    assert all(r["digest"] for r in listed)
    assert (removed.outcome, removed_again.outcome) == ("deleted", "already-gone")
    assert sorted(r["image_name"] for r in stages.list_managed_images().to_pylist()) == ["", "backend/api"]


def test_client_ids_and_foreign_tags_are_ignored_but_counted_in_tag_digests(backend) -> None:
    stages = backend.stages()
    app = Publisher(stages).build("app", built_at=T0, n_stages=1)
    stages.write_client_id("0f1e2d", 1714557600000)
    stages.copy_tag(app.stages[0].tag, "latest")

    assert list(rows_by_tag(stages.list_stages())) == app.stage_tags
    assert stages.list_metadata().num_rows == 0
    assert stages.list_managed_images().num_rows == 0
    digests = stages.tag_digests()
    assert digests["latest"] == digests[app.stages[0].tag]
    assert "client-id-0f1e2d-1714557600000" in digests


def test_deleting_a_tag_never_removes_a_sibling_that_shares_its_digest(backend) -> None:
    stages = backend.stages()
    app = Publisher(stages).build("app", built_at=T0, n_stages=1)
    stage = app.stages[0]
    digest = stages.copy_tag(stage.tag, "keep-me")

    [result] = stages.delete_items([row_for(stages, stage.tag, "stage", digest)])

    assert stages.tag_digests().get("keep-me") == digest
    if backend.kind == "registry":  # a registry deletes by digest: it must refuse, and keep the tag
        assert (result.outcome, result.reason) == ("kept", "shared-digest")
        assert "keep-me" in result.detail
        assert stage.tag in stages.tag_digests()
    else:  # OCI layout and Docker remove just the tag
        assert result.outcome == "deleted"
        assert stage.tag not in stages.tag_digests()


def test_deleting_every_tag_of_a_shared_digest_in_one_call_succeeds(backend) -> None:
    stages = backend.stages()
    app = Publisher(stages).build("app", built_at=T0, n_stages=1)
    tag = app.stages[0].tag
    digest = stages.copy_tag(tag, "alias")

    results = stages.delete_items([row_for(stages, tag, "stage", digest), row_for(stages, "alias", "stage", digest)])

    assert {r.outcome for r in results} <= {"deleted", "already-gone"}
    assert "deleted" in {r.outcome for r in results}
    assert stages.tag_digests() == {}


def test_deleting_an_already_gone_tag_reports_already_gone(backend) -> None:
    stages = backend.stages()
    app = Publisher(stages).build("app", built_at=T0, n_stages=2)
    digests = stages.tag_digests()
    rows = [row_for(stages, s.tag, "stage", digests[s.tag]) for s in app.stages]

    first = stages.delete_items(rows[:1])
    again = stages.delete_items(rows)

    assert [r.outcome for r in first] == ["deleted"]
    assert [r.outcome for r in again] == ["already-gone", "deleted"]
    assert [r.tag for r in again] == [rows[0]["tag"], rows[1]["tag"]]
    assert stages.list_stages().num_rows == 0


def test_deleting_a_tag_that_was_pushed_again_after_planning_keeps_it_and_says_why(backend) -> None:
    stages = backend.stages()
    app = Publisher(stages).build("app", built_at=T0, n_stages=1)
    planned = stages.tag_digests()[app.stages[0].tag]
    other = Publisher(stages).build("other", built_at=T0, n_stages=1)
    stages.copy_tag(other.stages[0].tag, app.stages[0].tag)  # the tag now names another image

    [result] = stages.delete_items([row_for(stages, app.stages[0].tag, "stage", planned)])

    if backend.kind in ("registry", "oci"):
        assert (result.outcome, result.reason) == ("kept", "tag-moved")
        assert planned in result.detail
    else:
        assert result.outcome == "failed" and not result.retryable
        assert "planned" in result.error
    assert app.stages[0].tag in stages.tag_digests()


def test_stage_and_its_marker_are_deleted_in_row_order(backend) -> None:
    stages = backend.stages()
    with Publisher(stages) as pub:
        app = pub.build("app", built_at=T0, n_stages=1)
        marker = pub.reject(app.stages[0])
    digests = stages.tag_digests()
    rows = [
        row_for(stages, app.stages[0].tag, "stage", digests[app.stages[0].tag]),
        row_for(stages, marker, "rejected-marker", digests[marker]),
    ]

    results = stages.delete_items(rows, parallel=4)

    assert [(r.tag, r.outcome) for r in results] == [(app.stages[0].tag, "deleted"), (marker, "deleted")]
    assert stages.tag_digests() == {}


@pytest.mark.slow
def test_lists_thousands_of_stages_with_their_descriptions(backend) -> None:
    count = 500 if backend.kind == "local" else 2000
    stages = backend.stages()
    started = time.perf_counter()
    with Publisher(stages, parallel=8) as pub:
        chain = pub.build("app", built_at=T0, n_stages=count)
    written = time.perf_counter() - started

    started = time.perf_counter()
    listed = stages.list_stages()
    listing = time.perf_counter() - started

    print(f"\n{backend.kind}: wrote {count} stages in {written:.1f}s, listed them in {listing:.1f}s")
    assert listed.num_rows == count
    by_tag = rows_by_tag(listed)
    assert [by_tag[s.tag]["parent_id"] for s in chain.stages[1:]] == [s.image_id for s in chain.stages[:-1]]
    assert all(row["created"] is not None for row in by_tag.values())


def test_stage_labels_name_the_project_and_storage(backend) -> None:
    stages = backend.stages()
    app = Publisher(stages).build("app", built_at=T0, n_stages=1)
    [entry] = [e for e in stages._entries() if e.record_tag == app.stages[0].tag]
    labels = stages._describe([entry])[entry].labels

    assert labels["werf"] == backend.project
    assert labels["werf-stage-signature"] == app.stages[0].signature
    assert labels["werf-image"] == "false"
    assert labels["werf-cache-version"] == "1.1"
    assert labels["werf-docker-image-name"] == stages.docker_image_name(app.stages[0].tag)
    assert codec.parse_stage_tag(labels["werf-docker-image-name"].rsplit(":", 1)[1]) is not None


def test_a_marker_whose_stage_is_gone_is_still_listed_so_it_gets_deleted(backend) -> None:
    stages = backend.stages()
    with Publisher(stages) as pub:
        app = pub.build("app", built_at=T0, n_stages=1)
        marker = pub.reject(app.stages[0])
    digests = stages.tag_digests()
    stages.delete_items([row_for(stages, app.stages[0].tag, "stage", digests[app.stages[0].tag])])

    [row] = stages.list_stages().to_pylist()

    assert (row["signature"], row["unique_id"]) == (app.stages[0].signature, app.stages[0].unique_id)
    assert row["rejected"] is True and row["rejected_tag"] == marker
    assert row["digest"] is None and row["image_id"] is None
    results = stages.delete_items(
        [
            {"repository": row["repository"], "tag": row["tag"], "digest": None, "item_type": "stage"},
            {"repository": row["repository"], "tag": marker, "digest": row["rejected_digest"], "item_type": "rejected-marker"},
        ]
    )
    assert [r.outcome for r in results] == ["already-gone", "deleted"]
    assert stages.tag_digests() == {}


def test_a_row_of_another_repository_is_refused_without_deleting(backend, tmp_path) -> None:
    stages = backend.stages()
    app = Publisher(stages).build("app", built_at=T0, n_stages=1)
    row = row_for(stages, app.stages[0].tag, "stage")

    [result] = stages.delete_items([{**row, "repository": row["repository"] + "-elsewhere"}])

    assert result.outcome == "failed" and not result.retryable
    assert "nothing was deleted" in result.error or "not a repository" in result.error
    assert app.stages[0].tag in stages.tag_digests()
