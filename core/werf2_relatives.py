"""Relatives of protected stages are protected (SPEC §13.3 step 7).

As werf v2.77's ``protectRelativeStageDescSetByStageDesc`` and
``protectImportAndDependencySources`` (``pkg/cleaning/cleanup.go``), from every protected stage:

* its parent chain (``ancestor``): the stage its ``werf.io/parent-stage-id`` label names, and
  every stage whose image ID (config digest) is its parent image ID (config ``Image`` or
  ``werf.io/base-image-id``);
* for stages protected for a reason other than ``git-policy`` — werf: "git history based policy
  keeps import sources more effectively" — its import sources (``import-source``) and
  dependencies (``dependency-source``), and theirs, transitively;
* an image index protects its platform stages (``image-index-platform``): the stages whose
  manifest digest is one of the index's.

Import sources are the stages named by ``werf-import-source-stage-id-*`` labels and the stages the
import metadata records name for a ``werf-import-checksum-*`` value: ``source-stage-id`` (werf 2),
or ``source-image-id`` (werf 1.2: the source stage's image ID). werf v2.77 reads only the
checksum labels (the stage-ID labels only under ``WERF_EXPERIMENTAL_IMPORT_BY_SOURCE_IMAGE_TAG``)
and no longer reads ``source-image-id``; stagesweep reads all three, so it keeps at least what
werf keeps. Values starting with ``external-image`` name no stage.

Where werf walks a protected stage once (the first reason it meets decides whether its sources
count), stagesweep walks it once per kind of walk, so a stage protected both by ``git-policy`` and by
another reason keeps its sources; and every protected index keeps its platforms, not only the
indexes protected first-hand. Both only keep more than werf.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from core.werf2_rows import Protection
from schemas.vocab import Reason

EXTERNAL_IMAGE_PREFIX = "external-image"


@dataclass
class StageGraph:
    """The links between the stages of one repository, by stage ID."""

    parents: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, list[tuple[str, Reason]]] = field(default_factory=dict)  #: imports and dependencies
    platforms: dict[str, list[str]] = field(default_factory=dict)  #: index -> its platform stages

    def relatives(self, stage: str, with_sources: bool) -> list[tuple[str, Reason]]:
        out = [(p, Reason.IMAGE_INDEX_PLATFORM) for p in self.platforms.get(stage, ())]
        out += [(p, Reason.ANCESTOR) for p in self.parents.get(stage, ())]
        if with_sources:
            out += self.sources.get(stage, [])
        return out


def _index(keys: Iterable[object], values: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in zip(keys, values):
        if isinstance(key, str) and key:
            out.setdefault(key, []).append(value)
    return out


def _checksum_sources(import_metadata: pa.Table, by_image_id: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """checksum -> the source stages the import metadata records name for it."""
    out: dict[str, list[str]] = {}
    rows = zip(
        import_metadata["checksum"].to_pylist(),
        import_metadata["source_stage_id"].to_pylist(),
        import_metadata["source_image_id"].to_pylist(),
    )
    for checksum, stage_id, image_id in rows:
        found = [stage_id] if stage_id else by_image_id.get(image_id or "", [])
        out.setdefault(checksum, []).extend(found)
    return out


def build_graph(stages: pa.Table, import_metadata: pa.Table) -> StageGraph:
    """The graph of ``stages`` (REPO_STAGES_SCHEMA) with import metadata (IMPORT_METADATA_SCHEMA)."""
    columns = {name: stages[name].to_pylist() for name in _GRAPH_COLUMNS}
    ids = columns["tag"]
    known = set(ids)
    by_image_id = _index(columns["image_id"], ids)
    by_digest = _index(columns["digest"], ids)
    by_checksum = _checksum_sources(import_metadata, by_image_id)
    graph = StageGraph()
    per_stage = zip(ids, *(columns[name] for name in _LINKS))
    for stage_id, parent_image, parent_stage, imports, checksums, dependencies, platform_digests in per_stage:
        parents = list(by_image_id.get(parent_image, ())) if parent_image else []
        if parent_stage in known:
            parents.append(parent_stage)
        sources = [(s, Reason.IMPORT_SOURCE) for s in imports]
        sources += [(s, Reason.IMPORT_SOURCE) for c in checksums for s in by_checksum.get(c, ())]
        sources += [(s, Reason.DEPENDENCY_SOURCE) for s in dependencies]
        sources = [(s, r) for s, r in sources if s in known and not s.startswith(EXTERNAL_IMAGE_PREFIX)]
        platforms = [p for d in platform_digests for p in by_digest.get(d, ()) if p != stage_id]
        if parents:
            graph.parents[stage_id] = parents
        if sources:
            graph.sources[stage_id] = sources
        if platforms:
            graph.platforms[stage_id] = platforms
    return graph


#: the columns that link a stage to others, in the order ``build_graph`` reads them
_LINKS = ("parent_image_id", "parent_stage_id", "import_source_ids", "import_checksums", "dependency_ids", "platform_digests")
_GRAPH_COLUMNS = ("tag", "digest", "image_id", *_LINKS)


_RELATION = {
    Reason.ANCESTOR: "parent of",
    Reason.IMPORT_SOURCE: "imported by",
    Reason.DEPENDENCY_SOURCE: "a dependency of",
    Reason.IMAGE_INDEX_PLATFORM: "a platform of the image index",
}


def protect_relatives(graph: StageGraph, roots: Mapping[str, Protection], with_sources: Iterable[str]) -> dict[str, Protection]:
    """``roots`` (stage ID -> protection, in order of precedence) and every relative they protect,
    each with the first protection that reaches it. ``with_sources``: the roots whose import
    sources and dependencies count (those protected for a reason other than ``git-policy``)."""
    protected = dict(roots)
    sourced = set(with_sources)
    queue = deque((stage, stage, stage in sourced) for stage in roots)
    walked: set[tuple[str, bool]] = set()
    while queue:
        stage, root, sources = queue.popleft()
        if (stage, sources) in walked or (stage, True) in walked:
            continue
        walked.add((stage, sources))
        root_reason = protected[root][0].value
        for relative, reason in graph.relatives(stage, sources):
            start = f"; the chain starts at {root} ({root_reason})" if root != stage else f" ({root_reason})"
            protected.setdefault(relative, (reason, f"{_RELATION[reason]} {stage}{start}"))
            queue.append((relative, root, sources))
    return protected


def resolve_sources(import_metadata: pa.Table, stages: pa.Table) -> pd.Series:
    """Per import metadata record, the stage ID of its source (None when no stage of ``stages``
    is it): ``source-stage-id``, else the stage whose image ID is ``source-image-id``."""
    by_image_id = _index(stages["image_id"].to_pylist(), stages["tag"].to_pylist())
    out = []
    for stage_id, image_id in zip(import_metadata["source_stage_id"].to_pylist(), import_metadata["source_image_id"].to_pylist()):
        found = stage_id if stage_id else by_image_id.get(image_id or "", [None])[0]
        out.append(found)
    return pd.Series(out, dtype=object)
