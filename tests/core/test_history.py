"""The history scan (SPEC §4.5) on plain commit tables: graph walking and imagesPerReference."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from core.history import CommitGraph, scan_history, select_signatures
from core.references import select_references
from schemas.config import Limit, Operator
from tests.core.tables import commits_table, metadata_table, policies, refs_table, signature
from tests.fixtures.gitrepo import NOW, hours_ago


def sha(label: str) -> str:
    return (label.encode().hex() + "0" * 40)[:40]


def graph(*rows: tuple[str, list[str], float]) -> pa.Table:
    """Commits from (label, parent labels, hours ago)."""
    return commits_table([(sha(c), [sha(p) for p in ps], hours_ago(h)) for c, ps, h in rows])


def kept(
    commits: pa.Table, refs: list[tuple[str, str, str]], records: list[tuple[str, str]], *raw: dict, image: str = "app"
) -> dict[str, set[tuple[str, str]]]:
    """{ref name: {(signature label, hit commit label)}} for refs (name, kind, head label)."""
    dates = dict(zip(commits.column("sha").to_pylist(), commits.column("committed_at").to_pylist(), strict=True))
    ref_table = refs_table([(n, k, sha(h), dates.get(sha(h), NOW)) for n, k, h in refs])
    keep = policies(*raw)
    result = scan_history(
        commits, metadata_table([(image, sha(c), s) for c, s in records]), select_references(ref_table, keep, NOW), keep, NOW
    )
    labels = {signature(s): s for _, s in records}
    commit_labels = {sha(c): c for c, _ in records}
    out: dict[str, set[tuple[str, str]]] = {}
    for row in result.per_ref().to_dict("records"):
        out.setdefault(row["ref_name"], set()).add((labels[row["content_signature"]], commit_labels[row["commit"]]))
    return out


ALL = {"references": {"branch": "/.*/"}}
TAGS = {"references": {"tag": "/.*/"}}

# a --- b --- m (main)          x is only reachable through m's second parent
#  \         /
#   x ------
DIAMOND = graph(("a", [], 10), ("b", ["a"], 8), ("x", ["a"], 7), ("m", ["b", "x"], 6))


def test_branch_reaches_signatures_through_every_parent() -> None:
    result = kept(DIAMOND, [("main", "branch", "m")], [("a", "A"), ("x", "X"), ("b", "B")], ALL)
    assert result == {"main": {("A", "a"), ("X", "x"), ("B", "b")}}


def test_tag_reaches_only_its_commit() -> None:
    result = kept(DIAMOND, [("v1", "tag", "b")], [("a", "A"), ("b", "B")], TAGS)
    assert result == {"v1": {("B", "b")}}


def test_signature_is_dated_by_its_newest_reaching_commit_which_is_the_hit() -> None:
    commits = graph(("a", [], 10), ("b", ["a"], 9), ("c", ["b"], 8), ("d", ["c"], 7))
    records = [("a", "S"), ("b", "T"), ("c", "S"), ("d", "U")]
    result = kept(commits, [("main", "branch", "d")], records, {**ALL, "imagesPerReference": {"last": 2}})
    assert result == {"main": {("U", "d"), ("S", "c")}}


def test_last_zero_keeps_nothing_and_minus_one_keeps_everything() -> None:
    records = [("a", "A"), ("b", "B"), ("m", "M")]
    assert kept(DIAMOND, [("main", "branch", "m")], records, {**ALL, "imagesPerReference": {"last": 0}}) == {}
    everything = kept(DIAMOND, [("main", "branch", "m")], records, {**ALL, "imagesPerReference": {"last": -1}})
    assert len(everything["main"]) == 3


@pytest.mark.parametrize(
    ("images_per_reference", "expected"),
    [
        ({"in": "9h"}, {"B", "X", "M"}),
        ({"in": "9h", "last": 1}, {"M"}),
        ({"in": "9h", "last": 1, "operator": "Or"}, {"B", "X", "M"}),
        ({"in": "1h", "last": 2, "operator": "Or"}, {"X", "M"}),
        ({"in": "1h", "last": 2, "operator": "And"}, set()),
        ({"in": "9h", "operator": "Or"}, {"B", "X", "M"}),  # `in` alone, whatever the operator
    ],
)
def test_images_per_reference_in_and_last(images_per_reference: dict, expected: set[str]) -> None:
    records = [("a", "A"), ("b", "B"), ("x", "X"), ("m", "M")]
    result = kept(DIAMOND, [("main", "branch", "m")], records, {**ALL, "imagesPerReference": images_per_reference})
    assert {s for s, _ in result.get("main", set())} == expected


def test_last_counts_per_image() -> None:
    commits = graph(("a", [], 3), ("b", ["a"], 2))
    table = metadata_table([("api", sha("a"), "api-a"), ("api", sha("b"), "api-b"), ("web", sha("a"), "web-a")])
    keep = policies({**ALL, "imagesPerReference": {"last": 1}})
    refs = select_references(refs_table([("main", "branch", sha("b"), hours_ago(2))]), keep, NOW)
    per_ref = scan_history(commits, table, refs, keep, NOW).per_ref()
    assert set(zip(per_ref["image_name"], per_ref["commit"], strict=True)) == {("api", sha("b")), ("web", sha("a"))}


def test_many_commits_of_one_signature_do_not_hide_the_next_one() -> None:
    rows = [(f"c{i}", [f"c{i - 1}"] if i else [], 500 - i) for i in range(300)]
    records = [("c0", "OLD")] + [(f"c{i}", "SAME") for i in range(1, 300)]
    result = kept(graph(*rows), [("main", "branch", "c299")], records, {**ALL, "imagesPerReference": {"last": 2}})
    assert result == {"main": {("SAME", "c299"), ("OLD", "c0")}}


def test_history_out_of_topological_row_order_and_with_clock_skew() -> None:
    # child "b" is dated before its parent "a"; rows listed parents first
    commits = graph(("a", [], 5), ("b", ["a"], 9), ("c", ["b"], 1))
    result = kept(commits, [("main", "branch", "c")], [("a", "A"), ("b", "B")], ALL)
    assert result == {"main": {("A", "a"), ("B", "b")}}


def test_parents_missing_from_the_table_are_cut_off() -> None:
    commits = graph(("b", ["a"], 2), ("c", ["b"], 1))  # shallow: "a" is unknown
    assert kept(commits, [("main", "branch", "c")], [("a", "A"), ("b", "B")], ALL) == {"main": {("B", "b")}}


def test_ref_whose_head_is_not_in_the_history_reaches_nothing() -> None:
    assert kept(DIAMOND, [("main", "branch", "zz")], [("a", "A")], ALL) == {}


def test_scan_result_credits_each_signature_to_the_first_ref_in_scan_order() -> None:
    keep = policies(TAGS, ALL)
    refs = select_references(
        refs_table([("main", "branch", sha("m"), hours_ago(6)), ("v1", "tag", sha("b"), hours_ago(8))]), keep, NOW
    )
    result = scan_history(DIAMOND, metadata_table([("app", sha("b"), "B")]), refs, keep, NOW)
    assert result.kept_signatures()[["detail", "commit"]].to_dict("records") == [
        {"detail": "policy 1: tag v1", "commit": sha("b")}
    ]
    assert list(result.scanned["kept"]) == [1, 1]


def test_commit_graph_rejects_a_parent_cycle() -> None:
    commits = graph(("a", ["b"], 1), ("b", ["a"], 2))
    with pytest.raises(ValueError, match="cycle"):
        CommitGraph(commits).reached_bits({0: 1}, np.array([0]))


def test_select_signatures_keeps_ties_on_the_boundary_date_together() -> None:
    rec_key = np.array([0, 1, 2, 3])
    rec_date = np.array([50, 40, 40, 10])
    chosen = select_signatures(np.arange(4), rec_key, rec_date, Limit(last=2), now_us=100)
    assert list(chosen) == [0, 1, 2]
    chosen = select_signatures(
        np.arange(4), rec_key, rec_date, Limit(last=1, in_=dt.timedelta(microseconds=60), operator=Operator.OR), now_us=100
    )
    assert list(chosen) == [0, 1, 2]
