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

from core.allow_list import IMPLICIT_TAG, normalise_image
from schemas.repo_tables import RepoInventory


@dataclass
class KubeUse:
    """What workloads use, each with the first user (``context/namespace/kind/name container=c``)."""

    stages: dict[str, str] = field(default_factory=dict)  #: R stage ID -> user
    custom_tags: dict[str, str] = field(default_factory=dict)  #: R custom tag -> user
    final_stages: dict[str, str] = field(default_factory=dict)  #: F stage ID -> user


@dataclass
class _Users:
    """Workload images by (canonical repository, tag) and by (canonical repository, digest), each
    with its first user in (context, namespace, kind, name, container) order."""

    by_tag: dict[tuple[str, str], str] = field(default_factory=dict)
    by_digest: dict[tuple[str, str], str] = field(default_factory=dict)

    def user(self, repository: str, tag: str, digest: str | None) -> str | None:
        found = self.by_tag.get((repository, tag))
        if found is None and digest:
            found = self.by_digest.get((repository, digest.lower()))
        return found


def _users(kube: pa.Table) -> _Users:
    users = _Users()
    columns = [kube[name].to_pylist() for name in ("context", "namespace", "kind", "name", "container", "image")]
    parsed: dict[str, tuple[str, str | None, str | None]] = {}
    for context, namespace, kind, name, container, image in sorted(zip(*columns)):
        if image not in parsed:
            parsed[image] = normalise_image(image)
        repository, tag, digest = parsed[image]
        detail = f"{context}/{namespace}/{kind}/{name} container={container}"
        if tag is not None or digest is None:
            users.by_tag.setdefault((repository, tag or IMPLICIT_TAG), detail)
        if digest is not None:
            users.by_digest.setdefault((repository, digest), detail)
    return users


def _used(tags: list[str], digests: list[str | None], repository: str, users: _Users) -> dict[str, str]:
    canonical = normalise_image(repository)[0]
    found = {t: users.user(canonical, t, d) for t, d in zip(tags, digests)}
    return {t: u for t, u in found.items() if u is not None}


def kube_use(repo: RepoInventory, final: RepoInventory | None, kube: pa.Table | None) -> KubeUse:
    """What the workloads of ``kube`` (KUBE_IMAGES_SCHEMA; None: the check is off) use of ``repo``
    and ``final``. A custom tag is found by its name and by its own digest; a stage by its ID and
    its manifest digest."""
    if kube is None or kube.num_rows == 0:
        return KubeUse()
    users = _users(kube)
    stages, custom = repo.stages, repo.custom_tags
    result = KubeUse(
        stages=_used(stages["tag"].to_pylist(), stages["digest"].to_pylist(), repo.repository, users),
        custom_tags=_used(custom["custom_tag"].to_pylist(), custom["custom_tag_digest"].to_pylist(), repo.repository, users),
    )
    if final is not None:
        result.final_stages = _used(final.stages["tag"].to_pylist(), final.stages["digest"].to_pylist(), final.repository, users)
    return result
