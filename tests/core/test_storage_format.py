"""The refusal signs of werf 1.2 / 2.x content lead to, and stages of another project (SPEC §13.4)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from core.stages import decide_stages
from core.storage_format import refuse_newer_werf_content
from schemas.errors import WrongStorageFormat
from schemas.tables import IMAGE_TAGS_SCHEMA, NEWER_FORMAT_SIGNS_SCHEMA


def signs(*tags: str) -> pa.Table:
    rows = [{"repository": "r.example/acme", "tag": t, "sign": f"sign of {t}"} for t in tags]
    return pa.Table.from_pylist(rows, schema=NEWER_FORMAT_SIGNS_SCHEMA)


def test_no_sign_lets_the_run_go_on():
    refuse_newer_werf_content(signs(), "--stages-storage")


def test_a_sign_stops_the_run_naming_what_where_and_repo():
    with pytest.raises(WrongStorageFormat) as raised:
        refuse_newer_werf_content(signs("t4", "t1", "t3", "t2"), "--stages-storage/--images-repo")
    error = raised.value
    assert error.exit_code == 1
    text = str(error)
    assert "r.example/acme:t1 is sign of t1" in text and "(and 1 more)" in text
    assert "t4" not in text.split("\n")[0]
    assert "--repo" in text and "--stages-storage/--images-repo" in text and "Nothing was deleted" in text
    assert [s["tag"] for s in error.signs] == ["t1", "t2", "t3", "t4"]


def stage_row(tag: str, project: str | None) -> dict:
    return {
        "repository": "r.example/acme/stages",
        "tag": tag,
        "signature": tag.split("-")[0],
        "unique_id": 1,
        "digest": f"sha256:{tag[0] * 64}",
        "image_id": f"sha256:{tag[0] * 63}0",
        "parent_id": None,
        "import_ids": [],
        "created": None,
        "rejected": False,
        "project": project,
    }


@pytest.mark.parametrize(("owner", "reason"), [("beta", "other-project"), ("acme", "unused-stage"), (None, "unused-stage")])
def test_a_stage_labelled_for_another_project_is_kept(owner, reason):
    from datetime import UTC, datetime, timedelta

    stages = pa.Table.from_pylist([stage_row("a" * 56 + "-1", owner)])
    decided = decide_stages(stages, IMAGE_TAGS_SCHEMA.empty_table(), datetime.now(UTC), timedelta(0), project="acme")
    assert decided.column("reason").to_pylist() == [reason]


# --- a `--repo` run over werf v1.1 content (SPEC §13.4) ---------------------------------------


def older_signs(*tags: str) -> pa.Table:
    from schemas.repo_tables import OLDER_FORMAT_SIGNS_SCHEMA

    rows = [{"repository": "r.example/acme", "tag": t, "sign": f"v1.1 sign of {t}"} for t in tags]
    return pa.Table.from_pylist(rows, schema=OLDER_FORMAT_SIGNS_SCHEMA)


def test_repo_without_werf_1_1_content_lets_the_run_go_on():
    from core.storage_format import refuse_older_werf_content

    refuse_older_werf_content(older_signs(), "r.example/acme")


def test_werf_1_1_content_in_repo_stops_the_run_naming_the_v1_1_options():
    from core.storage_format import refuse_older_werf_content

    with pytest.raises(WrongStorageFormat) as raised:
        refuse_older_werf_content(older_signs("s4", "s1", "s3", "s2"), "r.example/acme")
    error = raised.value
    assert error.exit_code == 1
    text = str(error)
    assert text.startswith("r.example/acme holds werf v1.1 content")
    assert "r.example/acme:s1 is v1.1 sign of s1" in text and "(and 1 more)" in text
    assert "--stages-storage" in error.message and "--images-repo" in error.message
    assert "Nothing was deleted" in error.message and "--repo" in text
    assert [s["tag"] for s in error.signs] == ["s1", "s2", "s3", "s4"]
