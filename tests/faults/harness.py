"""What a cleanup under injected faults may end with, checked against the same world's fault-free
plan (a dry run with the faults off: it computes exactly the plan a real run executes).

Allowed endings: exit 0 with the fault-free end state; exit 1 with nothing deleted; exit 3 with
every failed row in the audit and a rerun (faults off) reaching the fault-free end state. Always:
no DELETE outside the plan reached the registry, and the audit reads back.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from adapters.registry import RegistryClient

PROBE = "sha256:" + "0" * 64  # the delete pre-flight's digest, which never exists
_MANIFEST_DELETE = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<digest>[^/?]+)$")


def registry_state(registry, prefix: str, names: tuple[str, ...] = ("stages", "images/app")) -> dict[str, dict[str, str]]:
    """{repository path: {tag: digest}} of the world's repositories under `prefix` (its stages
    storage and the multirepo images repo of image `app`), read straight from the registry (no
    proxy, no faults)."""
    with RegistryClient(registry.options()) as client:
        repositories = [f"{prefix}/{name}" for name in names]
        state = {}
        for path in repositories:
            tags = client.list_tags(f"{registry.host}/{path}")
            digests = client.map_concurrent(lambda t, p=path: client.head_manifest(f"{registry.host}/{p}", t), tags)
            state[path] = {t: d for t, d in zip(tags, digests, strict=True) if d}
    return state


def tags_of(state: dict[str, dict[str, str]]) -> set[tuple[str, str]]:
    return {(repo, tag) for repo, tags in state.items() for tag in tags}


def _path(address: str) -> str:
    return address.split("/", 1)[1]


@dataclass
class Plan:
    """The delete rows of a fault-free dry run."""

    deletes: set[tuple[str, str]]  # (repository path, tag)
    digests: set[tuple[str, str]]  # (repository path, digest)
    rows: int

    @classmethod
    def of_dry_run(cls, audit) -> Plan:
        rows = audit[audit.action == "delete"]
        assert set(rows.outcome) <= {"would-delete"}, set(rows.outcome)
        deletes = {(_path(r.repository), r.tag) for r in rows.itertuples()}
        digests = {(_path(r.repository), r.digest) for r in rows.itertuples() if r.digest}
        return cls(deletes, digests, len(rows))


@dataclass
class Outcome:
    """One faulty run, for the checks below."""

    why: str  # the seed and profile: printed by every assertion
    exit_code: int
    output: str
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]
    plan: Plan
    audit: object  # pandas DataFrame of the run's audit
    notes: list[str] = field(default_factory=list)

    def fail(self, message: str) -> str:
        return f"[{self.why}] {message}\n--- CLI output ---\n{self.output[-3000:]}"


def expected_end(before: dict[str, dict[str, str]], plan: Plan) -> set[tuple[str, str]]:
    return tags_of(before) - plan.deletes


def check_deletes_within_plan(why: str, forwarded: list[tuple[str, int]], plan: Plan) -> None:
    """Every DELETE the registry received is the pre-flight probe or a digest of the plan."""
    for path, status in forwarded:
        match = _MANIFEST_DELETE.match(urllib.parse.urlsplit(path).path)
        assert match, f"[{why}] a DELETE that is not a manifest delete reached the registry: {path}"
        if match["digest"] == PROBE:
            continue
        assert (match["repo"], match["digest"]) in plan.digests, (
            f"[{why}] DELETE outside the fault-free plan reached the registry ({status}): {path}"
        )


def check_outcome(o: Outcome) -> None:
    """The three allowed endings (module doc); returns nothing, asserts with the seed."""
    gone = tags_of(o.before) - tags_of(o.after)
    assert gone <= o.plan.deletes, o.fail(f"tags deleted outside the plan: {sorted(gone - o.plan.deletes)}")
    assert tags_of(o.after) <= tags_of(o.before), o.fail("tags appeared")
    deletes = o.audit[o.audit.action == "delete"]
    audited = {(_path(r.repository), r.tag) for r in deletes.itertuples()}
    if o.exit_code == 0:
        assert tags_of(o.after) == expected_end(o.before, o.plan), o.fail(
            f"exit 0 but the end state differs from the fault-free run: still there "
            f"{sorted(tags_of(o.after) - expected_end(o.before, o.plan))}, gone {sorted(expected_end(o.before, o.plan) - tags_of(o.after))}"
        )
        assert audited == o.plan.deletes, o.fail("exit 0 but the audit's delete rows are not the plan's")
        assert set(deletes.outcome) <= {"deleted", "already-gone"}, o.fail(f"exit 0 with outcomes {set(deletes.outcome)}")
    elif o.exit_code == 1:
        assert not gone, o.fail(f"exit 1 but {len(gone)} tags were deleted: {sorted(gone)}")
        assert not set(deletes.outcome) & {"deleted", "already-gone"} or deletes.empty, o.fail(
            "exit 1 but the audit records deletions"
        )
    elif o.exit_code == 3:
        failed = deletes[deletes.outcome == "failed"]
        assert not failed.empty, o.fail("exit 3 without a failed row in the audit")
        assert failed.error.notna().all(), o.fail("a failed row without its error")
        # every planned tag still there is accounted for: failed, blocked, or kept by a later revision
        still = {(_path(r.repository), r.tag) for r in o.audit.itertuples() if r.outcome in ("failed", "blocked", "kept")}
        missing = (o.plan.deletes & tags_of(o.after)) - still
        assert not missing, o.fail(f"planned tags still present but not failed/blocked/kept in the audit: {sorted(missing)}")
        # what the audit says was deleted is gone
        done = {(_path(r.repository), r.tag) for r in deletes.itertuples() if r.outcome in ("deleted", "already-gone")}
        assert not done & tags_of(o.after), o.fail(f"audited as deleted but still there: {sorted(done & tags_of(o.after))}")
    else:
        raise AssertionError(o.fail(f"exit code {o.exit_code} is none of 0, 1, 3"))


def read_audit(path):
    return pq.read_table(path).to_pandas()
