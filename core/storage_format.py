"""The wrong format is refused, never cleaned (SPEC §13.4).

A werf 1.2 / 2.x stage tag has the shape of a werf v1.1 stage tag, so a v1.1 run over a werf
1.2+ repository would take its stages for unused v1.1 stages and delete them. A v1.1 run that
finds any sign of werf 1.2+ content stops before it decides anything.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.errors import WrongStorageFormat

#: how many of the signs found the message names
SHOWN = 3


def refuse_newer_werf_content(signs: pa.Table, options: str) -> None:
    """Raise :class:`WrongStorageFormat` when `signs` (NEWER_FORMAT_SIGNS_SCHEMA) has a row.

    `options`: how this run addressed the storages (e.g. ``--stages-storage/--images-repo``)."""
    if signs.num_rows == 0:
        return
    rows = sorted(signs.to_pylist(), key=lambda r: (r["repository"], r["tag"]))
    repositories = sorted({r["repository"] for r in rows})
    shown = "; ".join(f"{r['repository']}:{r['tag']} is {r['sign']}" for r in rows[:SHOWN])
    more = f" (and {len(rows) - SHOWN} more)" if len(rows) > SHOWN else ""
    raise WrongStorageFormat(
        f"{', '.join(repositories)} holds werf 1.2 / 2.x content, which this werf v1.1 run ({options}) "
        f"would read as unused v1.1 stages and delete: {shown}{more}. Nothing was deleted.",
        signs=rows,
        hint=(
            "A repository werf 1.2 or 2.x builds into is cleaned with `--repo REPO` (werf 1.2/2.x's one "
            "repository), never with --stages-storage or --images-repo; if this is a werf v1.1 project, "
            "check that the addresses name its own stages storage and images repo."
        ),
    )


def refuse_older_werf_content(signs: pa.Table, repository: str) -> None:
    """Raise :class:`WrongStorageFormat` when `signs` (OLDER_FORMAT_SIGNS_SCHEMA) has a row.

    A werf v1.1 stage tag (``<signature>-<uniqueID>``) has the shape of a werf 1.2 / 2.x stage ID,
    so a `--repo` run over a v1.1 stages storage would take its stages for unused v2 stages and
    delete them. `repository`: the `--repo` (or `--final-repo`) address the run read."""
    if signs.num_rows == 0:
        return
    rows = sorted(signs.to_pylist(), key=lambda r: (r["repository"], r["tag"]))
    shown = "; ".join(f"{r['repository']}:{r['tag']} is {r['sign']}" for r in rows[:SHOWN])
    more = f" (and {len(rows) - SHOWN} more)" if len(rows) > SHOWN else ""
    raise WrongStorageFormat(
        f"{repository} holds werf v1.1 content, which this werf 1.2 / 2.x run (--repo) would read as "
        f"unused stages and delete: {shown}{more}. Nothing was deleted; clean it with "
        "--stages-storage / --images-repo.",
        signs=rows,
        hint=(
            "A werf v1.1 project's storages are cleaned with `--stages-storage STORAGE` and "
            "`--images-repo REPO`, never with --repo; if this is a werf 1.2 / 2.x project, check that "
            "--repo names its own repository."
        ),
    )
