"""Every key werf accepts in werf.yaml's meta section, across werf v1.1, v1.2 and 2.x, and which of
them cleanup reads.

Listed from werf's own config structs (``pkg/config/raw_meta*.go``, ``raw_image_spec.go``) at
every v1.1, v1.2 and v2 release tag (up to v2.77). werf reads every mapping of the meta section
strictly, and so does stagesweep: a key no werf version knows is an error (with the nearest valid
spelling); a key some werf version knows but cleanup does not use is accepted and reported once as
ignored by cleanup. Image, artifact and Dockerfile sections are not checked: cleanup reads only
their names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

V1_1, V1_2, V2 = "1.1", "1.2", "2"
ALL = (V1_1, V1_2, V2)
SINCE_1_2 = (V1_2, V2)
ONLY_2 = (V2,)


@dataclass(frozen=True)
class Key:
    """One key: the werf versions that accept it, whether cleanup reads it, and — for a mapping
    werf reads strictly — the keys it accepts."""

    versions: tuple[str, ...]
    cleanup: bool = False
    children: dict[str, Key] = field(default_factory=dict)
    #: a key werf accepted once but stagesweep refuses: what to do instead
    refused: str = ""


def _keys(versions: tuple[str, ...], *names: str) -> dict[str, Key]:
    return {name: Key(versions) for name in names}


#: ``build.imageSpec.config`` (werf 2.x's ``rawImageSpecConfig``)
_IMAGE_SPEC_CONFIG = (
    "keepEssentialWerfLabels",
    "clearWerfLabels",
    "clearCmd",
    "clearEntrypoint",
    "clearUser",
    "clearWorkingDir",
    "removeLabels",
    "removeVolumes",
    "removeEnv",
    "volumes",
    "labels",
    "env",
    "expose",
    "user",
    "cmd",
    "entrypoint",
    "workingDir",
    "stopSignal",
    "healthcheck",
)

_LIMIT = {name: Key(ALL, cleanup=True) for name in ("last", "in", "operator")}

#: The meta section (the one with ``project:``).
META: dict[str, Key] = {
    "configVersion": Key(ALL, cleanup=True),
    "project": Key(ALL, cleanup=True),
    "deploy": Key(
        ALL,
        children={
            **_keys(ALL, "helmRelease", "helmReleaseSlug", "namespace", "namespaceSlug"),
            "helmChartDir": Key(SINCE_1_2),
            "helmChartConfig": Key(ONLY_2, children=_keys(ONLY_2, "appVersion")),
        },
    ),
    "cleanup": Key(
        ALL,
        cleanup=True,
        children={
            "keepPolicies": Key(ALL, cleanup=True),  # its entries are validated by schemas.keep_policies
            "disableKubernetesBasedPolicy": Key(SINCE_1_2, cleanup=True),
            "disableGitHistoryBasedPolicy": Key(SINCE_1_2, cleanup=True),
            "disableBuiltWithinLastNHoursPolicy": Key(SINCE_1_2, cleanup=True),
            "keepImagesBuiltWithinLastNHours": Key(SINCE_1_2, cleanup=True),
            "disable": Key(ONLY_2, cleanup=True),
            "policies": Key(
                (V1_1,),
                refused="werf v1.1.21–22's experimental cleanup policies; werf v1.1.23 replaced them with "
                "keepPolicies: write them as cleanup.keepPolicies",
            ),
        },
    ),
    "gitWorktree": Key(
        SINCE_1_2,
        cleanup=True,
        children={
            "allowFetchOriginBranchesAndTags": Key(SINCE_1_2, cleanup=True),
            **_keys(SINCE_1_2, "allowUnshallow", "forceShallowClone"),
        },
    ),
    "build": Key(
        SINCE_1_2,
        children={
            "platform": Key(SINCE_1_2),
            "platforms": Key((V1_2,)),
            "cacheVersion": Key(ONLY_2),
            "staged": Key(ONLY_2),
            "sbom": Key(ONLY_2),
            "imageSpec": Key(
                ONLY_2,
                children={
                    **_keys(ONLY_2, "author", "clearHistory"),
                    "config": Key(ONLY_2, children=_keys(ONLY_2, *_IMAGE_SPEC_CONFIG)),
                },
            ),
        },
    ),
}


def nearest(name: str, candidates: list[str]) -> str | None:
    """The candidate closest to a misspelt key (case-insensitive edit distance), if any is close."""
    best: tuple[float, str] | None = None
    for candidate in candidates:
        distance = _distance(name.lower(), candidate.lower())
        limit = max(2, len(candidate) // 3)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, an adjacent swap counting as one edit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                value = min(value, previous2[j - 2] + 1)
            current.append(value)
        previous2, previous = previous, current
    return previous[-1]
