"""Properties of images-cleanup decisions on random small histories and policy sets.

The scan is checked against a naive oracle written straight from SPEC §4.4–4.5 (one depth-first
walk per reference), and the decisions against monotonicity and input-order independence.
"""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.images import decide_images
from schemas.config import KeepPolicy, Limit, Operator, parse_keep_policies
from tests.core.tables import (
    IMAGES_REPO,
    commits_table,
    metadata_table,
    refs_table,
    signature,
    tags_table,
)
from tests.fixtures.gitrepo import NOW, hours_ago

IMAGES = ("api", "")
SIGNATURES = ("s0", "s1", "s2", "s3", "s4", "s5")
LIKELY = st.sampled_from([True, True, False])
RARE = st.sampled_from([False] * 9 + [True])
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sha(i: int) -> str:
    return f"{i + 1:040x}"


limits = st.fixed_dictionaries(
    {},
    optional={
        "last": st.sampled_from([-1, 0, 1, 1, 2, 3]),
        "in": st.sampled_from(["1h", "12h", "30h"]),
        "operator": st.sampled_from(["And", "Or"]),
    },
)


@st.composite
def keep_policies(draw) -> list[dict]:
    result = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["branch", "tag"]))
        pattern = draw(st.sampled_from(["/.*/", "/b[01]/", "b2", "/t.*/", "t1"]))
        references = {kind: pattern}
        if draw(st.booleans()):
            references["limit"] = draw(limits)
        policy = {"references": references}
        if draw(st.booleans()):
            policy["imagesPerReference"] = draw(limits)
        result.append(policy)
    return result


@st.composite
def worlds(draw) -> dict:
    """A random history (clock skew allowed), refs, metadata, tags and Kubernetes usage."""
    size = draw(st.integers(1, 10))
    commits = []
    for i in range(size):
        parents = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=2, unique=True)) if i else []
        commits.append((sha(i), [sha(p) for p in parents], hours_ago(draw(st.integers(0, 60)))))
    dates = {c: d for c, _, d in commits}
    head = st.integers(0, size - 1).map(sha)
    refs = [(f"b{i}", "branch", h, dates[h]) for i, h in enumerate(draw(st.lists(head, min_size=1, max_size=4)))]
    refs += [(f"t{i}", "tag", h, hours_ago(draw(st.integers(0, 60)))) for i, h in enumerate(draw(st.lists(head, max_size=3)))]
    records = [(image, c, draw(st.sampled_from(SIGNATURES))) for c, _, _ in commits for image in IMAGES if draw(LIKELY)]
    records += [(image, "f" * 40, "s3") for image in IMAGES if draw(st.booleans())]  # missing commit
    tags = [
        (image, f"{image or 'x'}-{s}-{n}", s)
        for image in IMAGES
        for s in SIGNATURES
        for n in range(draw(st.sampled_from([1, 1, 1, 2])))
    ]
    tags += [(image, f"{image or 'x'}-s9", "s9") for image in IMAGES if draw(st.booleans())]  # no metadata
    kube = [t for t in tags if draw(RARE)]
    return {"commits": commits, "refs": refs, "records": records, "tags": tags, "kube": kube}


def decide(world: dict, raw_policies: list[dict], order_seed: int | None = None) -> pa.Table:
    tables = {
        "commits": world["commits"],
        "refs": world["refs"],
        "records": world["records"],
        "tags": world["tags"],
    }
    if order_seed is not None:
        rng = random.Random(order_seed)
        tables = {k: rng.sample(v, len(v)) for k, v in tables.items()}
    kube_used = pa.table(
        {
            "repository": [f"{IMAGES_REPO}/{i}" if i else IMAGES_REPO for i, _, _ in world["kube"]],
            "tag": [t for _, t, _ in world["kube"]],
            "detail": ["ctx/ns/Deployment/web"] * len(world["kube"]),
        }
    )
    return decide_images(
        tags_table(tables["tags"]),
        metadata_table(tables["records"]),
        refs_table(tables["refs"]),
        commits_table(tables["commits"]),
        parse_keep_policies(raw_policies),
        NOW,
        kube_used,
    )


def deleted(decisions: pa.Table) -> set[tuple[str, str, str]]:
    return {(r["item_type"], r["repository"], r["tag"]) for r in decisions.to_pylist() if r["action"] == "delete"}


# --- the oracle ------------------------------------------------------------------------------


def oracle_kept_signatures(world: dict, keep: list[KeepPolicy]) -> set[tuple[str, str]]:
    """(image, signature label) kept by the git policies, computed the slow, obvious way."""
    parents = {c: ps for c, ps, _ in world["commits"]}
    dates = {c: d for c, _, d in world["commits"]}
    in_kube = {(i, t) for i, t, _ in world["kube"]}
    candidates = {(i, s) for i, t, s in world["tags"] if (i, t) not in in_kube}
    records = [(i, c, s) for i, c, s in world["records"] if c in dates and (i, s) in candidates]
    assigned: dict[tuple[str, str], tuple[str, int]] = {}
    for index, policy in enumerate(keep):
        matching = [r for r in world["refs"] if policy.references.matches(r[1], r[0])]
        for name, kind, head, _ in _limited(matching, policy.references.limit):
            assigned[kind, name] = (head, index)
    result: set[tuple[str, str]] = set()
    for (kind, _), (head, index) in assigned.items():
        reach = _ancestors(head, parents) if kind == "branch" else ({head} & set(dates))
        for image in IMAGES:
            newest: dict[str, dt.datetime] = {}
            for i, c, s in records:
                if i == image and c in reach:
                    newest[s] = max(newest.get(s, dates[c]), dates[c])
            result |= {(image, s) for s in _per_reference(newest, keep[index].images_per_reference)}
    return result


def _limited(refs: list[tuple], limit: Limit | None) -> list[tuple]:
    if limit is None:
        return refs
    by_in = {r for r in refs if r[3] > NOW - limit.in_} if limit.in_ is not None else None
    newest = sorted(refs, key=lambda r: (-r[3].timestamp(), r[0]))
    by_last = set(newest[: limit.count]) if limit.count is not None else None
    if by_in is None or by_last is None:
        chosen = by_in if by_last is None else by_last
        return list(refs if chosen is None else chosen)
    return list(by_in | by_last if limit.effective_operator is Operator.OR else by_in & by_last)


def _ancestors(head: str, parents: dict[str, list[str]]) -> set[str]:
    seen, stack = set(), [head]
    while stack:
        commit = stack.pop()
        if commit in parents and commit not in seen:
            seen.add(commit)
            stack.extend(parents[commit])
    return seen


def _per_reference(newest: dict[str, dt.datetime], limit: Limit | None) -> set[str]:
    if limit is None or (limit.count is None and limit.in_ is None):
        return set(newest)
    if limit.count == 0:
        return set()
    cutoff = NOW - limit.in_ if limit.in_ is not None else None
    use_or = limit.effective_operator is Operator.OR
    if cutoff is not None and not use_or:
        newest = {s: d for s, d in newest.items() if d >= cutoff}
    if limit.count is None:
        return set(newest)
    dates = sorted(newest.values(), reverse=True)
    floor = dates[limit.count - 1] if len(dates) > limit.count else min(dates, default=NOW)
    if cutoff is not None and use_or:
        floor = min(floor, cutoff)
    return {s for s, d in newest.items() if d >= floor}


# --- properties ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(world=worlds(), raw=keep_policies())
def test_tags_kept_by_git_policy_are_exactly_those_whose_signature_a_policy_reaches(world: dict, raw: list) -> None:
    decisions = decide(world, raw)
    reached = {(image, signature(s)) for image, s in oracle_kept_signatures(world, parse_keep_policies(raw))}
    for row in decisions.to_pylist():
        if row["item_type"] != "image-tag" or row["reason"] in ("used-in-kubernetes", "no-metadata"):
            continue
        key = ("" if row["image_name"] == "~" else row["image_name"], row["signature"])
        expected = ("keep", "git-policy") if key in reached else ("delete", "not-reached-by-policy")
        assert (row["action"], row["reason"]) == expected


@PROPERTY_SETTINGS
@given(world=worlds(), raw=keep_policies(), extra=keep_policies())
def test_adding_policies_in_front_never_deletes_more(world: dict, raw: list, extra: list) -> None:
    # A ref takes the imagesPerReference of the LAST policy selecting it, so policies added
    # at the end may narrow a ref; added in front they only add scanned refs.
    assert deleted(decide(world, extra + raw)) <= deleted(decide(world, raw))


@PROPERTY_SETTINGS
@given(world=worlds(), raw=keep_policies(), seed=st.integers(0, 2**16))
def test_decisions_do_not_depend_on_the_order_of_input_rows(world: dict, raw: list, seed: int) -> None:
    assert decide(world, raw, order_seed=seed).equals(decide(world, raw))


@PROPERTY_SETTINGS
@given(world=worlds(), raw=keep_policies())
def test_every_tag_and_record_gets_one_decision_and_kubernetes_tags_are_kept(world: dict, raw: list) -> None:
    decisions = decide(world, raw).to_pylist()
    tag_rows = [r for r in decisions if r["item_type"] == "image-tag"]
    assert len(tag_rows) == len(world["tags"])
    assert len(decisions) - len(tag_rows) == len(world["records"])
    used = {t for _, t, _ in world["kube"]}
    assert all(r["action"] == "keep" for r in tag_rows if r["tag"] in used)
    kept_signatures = {(r["image_name"], r["signature"]) for r in tag_rows if r["action"] == "keep"}
    for row in decisions:
        if row["item_type"] == "image-metadata" and row["action"] == "keep":
            assert (row["image_name"], row["signature"]) in kept_signatures  # no record outlives its tags
