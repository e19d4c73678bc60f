"""Which references a policy set scans (SPEC §4.4), on plain tables."""

from __future__ import annotations

import datetime as dt

import pytest

from core.references import describe_ref, select_references
from tests.core.tables import policies, refs_table
from tests.fixtures.gitrepo import NOW, hours_ago

REFS = refs_table(
    [
        ("main", "branch", "a" * 40, hours_ago(1)),
        ("feature-x", "branch", "b" * 40, hours_ago(5)),
        ("feature-y", "branch", "c" * 40, hours_ago(20)),
        ("feature-z", "branch", "d" * 40, hours_ago(50)),
        ("v1.0", "tag", "e" * 40, hours_ago(30)),
        ("v1.1", "tag", "f" * 40, hours_ago(2)),
    ]
)


def scanned(*raw: dict) -> dict[tuple[str, str], int]:
    frame = select_references(REFS, policies(*raw), NOW)
    return {(k, n): p for k, n, p in zip(frame["kind"], frame["name"], frame["policy"], strict=True)}


def names(*raw: dict) -> set[str]:
    return {name for _, name in scanned(*raw)}


def test_selects_refs_of_the_policy_kind_whose_whole_name_matches() -> None:
    assert names({"references": {"branch": "/feature-.*/"}}) == {"feature-x", "feature-y", "feature-z"}
    assert names({"references": {"branch": "/feature/"}}) == set()
    assert names({"references": {"tag": "/v1\\..*/"}}) == {"v1.0", "v1.1"}
    assert names({"references": {"branch": "v1.0"}}) == set()  # a tag is not a branch


def test_limit_in_keeps_refs_dated_after_now_minus_in() -> None:
    assert names({"references": {"branch": "/.*/", "limit": {"in": "20h"}}}) == {"main", "feature-x"}
    assert names({"references": {"branch": "/.*/", "limit": {"in": "20h1s"}}}) == {"main", "feature-x", "feature-y"}


def test_limit_last_keeps_the_newest() -> None:
    assert names({"references": {"branch": "/feature-.*/", "limit": {"last": 2}}}) == {"feature-x", "feature-y"}
    assert names({"references": {"branch": "/.*/", "limit": {"last": 0}}}) == set()
    assert len(names({"references": {"branch": "/.*/", "limit": {"last": -1}}})) == 4


def test_limit_last_breaks_date_ties_by_name() -> None:
    refs = refs_table([(n, "branch", "a" * 40, hours_ago(1)) for n in ("b", "c", "a")])
    frame = select_references(refs, policies({"references": {"branch": "/.*/", "limit": {"last": 2}}}), NOW)
    assert list(frame["name"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ({"in": "10h", "last": 3, "operator": "And"}, {"main", "feature-x"}),
        ({"in": "10h", "last": 3, "operator": "Or"}, {"main", "feature-x", "feature-y"}),
        ({"in": "10h", "last": 1, "operator": "And"}, {"main"}),
        ({"in": "30h", "last": 1, "operator": "Or"}, {"main", "feature-x", "feature-y"}),
        ({"last": 1, "operator": "Or"}, {"main"}),  # a side not given is ignored
        ({"in": "10h", "operator": "Or"}, {"main", "feature-x"}),
        ({"in": "10h", "last": -1, "operator": "Or"}, {"main", "feature-x"}),
    ],
)
def test_limit_operator_combines_in_and_last(limit: dict, expected: set[str]) -> None:
    assert names({"references": {"branch": "/.*/", "limit": limit}}) == expected


def test_ref_selected_by_several_policies_takes_the_last_ones_images_per_reference() -> None:
    result = scanned(
        {"references": {"branch": "/.*/"}, "imagesPerReference": {"last": 2}},
        {"references": {"branch": "main"}, "imagesPerReference": {"last": 10}},
        {"references": {"branch": "/feature-.*/", "limit": {"last": 1}}},
    )
    assert result == {
        ("branch", "main"): 1,
        ("branch", "feature-x"): 2,
        ("branch", "feature-y"): 0,
        ("branch", "feature-z"): 0,
    }


def test_refs_no_policy_selects_are_not_scanned() -> None:
    assert select_references(REFS, [], NOW).empty
    assert scanned({"references": {"tag": "/nothing/"}}) == {}


def test_scan_order_is_policy_then_kind_then_name() -> None:
    frame = select_references(REFS, policies({"references": {"tag": "/.*/"}}, {"references": {"branch": "/.*/"}}), NOW)
    assert list(zip(frame["policy"], frame["name"], strict=True)) == [
        (0, "v1.0"),
        (0, "v1.1"),
        (1, "feature-x"),
        (1, "feature-y"),
        (1, "feature-z"),
        (1, "main"),
    ]
    assert list(frame["commit"])[0] == "e" * 40


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        select_references(REFS, policies({"references": {"branch": "main"}}), dt.datetime(2024, 1, 1))


def test_detail_names_policy_from_one_and_ref() -> None:
    assert describe_ref(1, "branch", "main") == "policy 2: branch main"
