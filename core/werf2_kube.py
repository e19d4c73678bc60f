"""Which stages, custom tags and final stages Kubernetes workloads use (SPEC §13.3 step 3).

werf v2.77 (``pkg/cleaning/cleanup.go``: ``skipStageIDsThatAreUsedInKubernetes``,
``skipFinalStageIDsThatAreUsedInKubernetes``) compares a workload's image string with
``R:<stageID>``, ``R:<custom tag>`` and ``F:<stageID>`` exactly. stagesweep also matches, as §6
does for werf v1.1, a digest-pinned image (``R@sha256:…``, ``R:TAG@sha256:…``) by a stage's (or
custom tag's) manifest digest, and compares repositories in one canonical form
(``core.allow_list``): it can only keep more than werf, never less.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from core.allow_list import match_used_tags
from schemas.repo_tables import RepoInventory

_CANDIDATES = pa.schema([("repository", pa.string()), ("tag", pa.string()), ("digest", pa.string())])


@dataclass
class KubeUse:
    """What workloads use, each with the first user (``context/namespace/kind/name container=c``)."""

    stages: dict[str, str] = field(default_factory=dict)  #: R stage ID -> user
    custom_tags: dict[str, str] = field(default_factory=dict)  #: R custom tag -> user
    final_stages: dict[str, str] = field(default_factory=dict)  #: F stage ID -> user


def _candidates(repo: RepoInventory, with_custom_tags: bool) -> pa.Table:
    stages = repo.stages
    parts = [pa.table([stages["repository"], stages["tag"], stages["digest"]], schema=_CANDIDATES)]
    if with_custom_tags:
        custom = repo.custom_tags
        parts.append(pa.table([custom["repository"], custom["custom_tag"], custom["custom_tag_digest"]], schema=_CANDIDATES))
    return pa.concat_tables(parts)


def _used(repo: RepoInventory, kube: pa.Table, with_custom_tags: bool) -> dict[str, str]:
    used = match_used_tags(_candidates(repo, with_custom_tags), kube)
    return dict(zip(used["tag"].to_pylist(), used["detail"].to_pylist()))


def kube_use(repo: RepoInventory, final: RepoInventory | None, kube: pa.Table | None) -> KubeUse:
    """What the workloads of ``kube`` (KUBE_IMAGES_SCHEMA; None: the check is off) use of ``repo``
    and ``final``. A custom tag is found by its name and by its own digest; its stage by the
    stage's ID and digest."""
    if kube is None or kube.num_rows == 0:
        return KubeUse()
    used = _used(repo, kube, with_custom_tags=True)
    stage_ids = set(repo.stages["tag"].to_pylist())
    custom_tags = set(repo.custom_tags["custom_tag"].to_pylist())
    result = KubeUse(
        stages={t: d for t, d in used.items() if t in stage_ids},
        custom_tags={t: d for t, d in used.items() if t in custom_tags},
    )
    if final is not None:
        result.final_stages = _used(final, kube, with_custom_tags=False)
    return result
