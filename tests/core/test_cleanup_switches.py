"""werf v1.2 / 2 cleanup keys of werf.yaml (keepImagesBuiltWithinLastNHours, disableGitHistoryBasedPolicy,
disableBuiltWithinLastNHoursPolicy, disable): which policies a run applies, and what they decide."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from core.cleanup_switches import cleanup_switches
from core.images import decide_images
from schemas.tables import IMAGE_TAGS_SCHEMA
from tests.core.tables import by_tag, commits_table, metadata_decisions, metadata_table, policies, refs_table, tags_table

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
H = dt.timedelta(hours=1)

# option (None: not given), keepImagesBuiltWithinLastNHours (None: absent), disableBuiltWithin…,
# disableGitHistory…  →  git history, stages window (h), images window (h or None)
SWITCHES = [
    ("werf v1.1 file, no option", None, None, False, False, True, 2, None),
    ("werf v1.1 file, option 5", 5, None, False, False, True, 5, None),
    ("werf v1.1 file, option 0", 0, None, False, False, True, 0, None),
    ("keepImages… 6 protects tags too", None, 6, False, False, True, 6, 6),
    ("the option wins over keepImages…", 1, 6, False, False, True, 1, 1),
    ("keepImages… 0 turns the window off", None, 0, False, False, True, 0, None),
    ("disableBuiltWithin… wins over the option", 5, 6, True, False, True, 0, None),
    ("disableBuiltWithin… alone", None, None, True, False, True, 0, None),
    ("disableGitHistory… keeps werf's default window for tags", None, None, False, True, False, 2, 2),
    ("disableGitHistory… and disableBuiltWithin…", None, None, True, True, False, 0, None),
    ("disableGitHistory… with the option", 3, None, False, True, False, 3, 3),
]


@pytest.mark.parametrize(
    ("case", "option", "keep_hours", "disable_window", "disable_git", "git_history", "stages_hours", "images_hours"),
    SWITCHES,
    ids=[row[0] for row in SWITCHES],
)
def test_switches_follow_werf_v1_2_and_2_keys_and_the_option(
    case: str,
    option: float | None,
    keep_hours: int | None,
    disable_window: bool,
    disable_git: bool,
    git_history: bool,
    stages_hours: float,
    images_hours: float | None,
) -> None:
    switches = cleanup_switches(
        option,
        keep_images_built_within_last_n_hours=keep_hours,
        disable_built_within_last_n_hours_policy=disable_window,
        disable_git_history_based_policy=disable_git,
    )
    assert switches.git_history is git_history
    assert switches.stages_window == stages_hours * H
    assert switches.images_window == (None if images_hours is None else images_hours * H)
    assert not switches.disabled


def test_werf_2_disable_switches_the_whole_cleanup_off() -> None:
    switches = cleanup_switches(None, disable=True)
    assert switches.disabled
    assert "cleanup disabled" in switches.describe()


def _tags_built(rows: list[tuple[str, str, dt.datetime | None]]) -> pa.Table:
    """Tags of image ``app`` from (tag, signature label, build time)."""
    table = tags_table([("app", tag, label) for tag, label, _ in rows]).to_pylist()
    for row, (_, _, created) in zip(table, rows):
        row["created"] = created
    return pa.Table.from_pylist(table, schema=IMAGE_TAGS_SCHEMA)


def _history() -> tuple[pa.Table, pa.Table, pa.Table]:
    """main → c2 (head, signature "head") over c1 (signature "old"); tags for both and for a
    signature of no commit ("orphan")."""
    commits = commits_table([("c1", [], NOW - 48 * H), ("c2", ["c1"], NOW - 30 * H)])
    refs = refs_table([("main", "branch", "c2", NOW - 30 * H)])
    metadata = metadata_table([("app", "c1", "old"), ("app", "c2", "head")])
    return commits, refs, metadata


# build time of the tags old / head / orphan, window  →  decisions of old, head, orphan
WINDOWS = [
    ("no window: werf v1.1", (NOW - 1 * H, NOW - 1 * H, NOW - 1 * H), None, ("delete", "keep", "delete")),
    ("fresh tags stay", (NOW - 1 * H, NOW - 1 * H, NOW - 1 * H), 2 * H, ("keep", "keep", "keep")),
    ("old tags go", (NOW - 3 * H, NOW - 3 * H, NOW - 3 * H), 2 * H, ("delete", "keep", "delete")),
    ("unknown build time is not fresh", (None, None, None), 2 * H, ("delete", "keep", "delete")),
]


@pytest.mark.parametrize(("case", "built", "window", "expected"), WINDOWS, ids=[row[0] for row in WINDOWS])
def test_tags_built_within_the_window_stay_after_the_keep_policies(
    case: str, built: tuple[dt.datetime | None, ...], window: dt.timedelta | None, expected: tuple[str, ...]
) -> None:
    commits, refs, metadata = _history()
    tags = _tags_built([("old", "old", built[0]), ("head", "head", built[1]), ("orphan", "orphan", built[2])])
    keep = policies({"references": {"branch": "main"}, "imagesPerReference": {"last": 1}})

    decisions = by_tag(decide_images(tags, metadata, refs, commits, keep, NOW, keep_built_within=window))

    assert tuple(decisions[tag][0] for tag in ("old", "head", "orphan")) == expected
    assert decisions["head"][1] == "git-policy"
    if expected[0] == "keep":
        assert decisions["old"][1] == decisions["orphan"][1] == "built-within-last-n-hours"


def test_without_the_git_history_policy_only_kubernetes_and_the_window_keep_tags() -> None:
    commits, refs, metadata = _history()
    tags = _tags_built([("old", "old", NOW - 1 * H), ("head", "head", NOW - 5 * H), ("orphan", "orphan", NOW - 5 * H)])
    kube = pa.table(
        {"repository": ["127.0.0.1:5000/acme/app/app"], "tag": ["orphan"], "detail": ["ctx/deploy/web"]},
    )
    keep = policies({"references": {"branch": "/.*/"}})

    decided = decide_images(tags, metadata, refs, commits, keep, NOW, kube, git_history=False, keep_built_within=2 * H)

    assert by_tag(decided) == {
        "old": ("keep", "built-within-last-n-hours"),
        "head": ("delete", "not-reached-by-policy"),
        "orphan": ("keep", "used-in-kubernetes"),
    }
    head = next(r for r in decided.to_pylist() if r["tag"] == "head")
    assert "disableGitHistoryBasedPolicy" in head["detail"]
    # werf drops every image metadata record when the git history-based policy is off
    assert metadata_decisions(decided) == {"c1": ("delete", "unused-metadata"), "c2": ("delete", "unused-metadata")}
