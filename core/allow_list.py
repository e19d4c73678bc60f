"""Which images-repo tags Kubernetes workloads still use (SPEC §6, the allow-list).

A tag ``REPO:TAG`` with manifest digest ``D`` is used when a workload image is

* ``REPO:TAG`` (``REPO`` alone means ``REPO:latest``, as for ``docker pull``),
* ``REPO@D``, or
* ``REPO:TAG@D'`` where either the tag is ``TAG`` or ``D'`` is ``D``.

Repositories are compared in one canonical form, so ``nginx``, ``library/nginx``,
``docker.io/nginx``, ``index.docker.io/library/nginx`` and ``registry-1.docker.io/library/nginx``
are the same repository. werf v1.1 compared exact strings only; matching by digest as well
keeps images that a digest-pinned workload runs.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from schemas.tables import KUBE_IMAGES_SCHEMA

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
IMPLICIT_TAG = "latest"

#: The tags a workload uses, with the first user (sorted) as ``detail``.
USED_TAGS_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),  # as in the tags table
        pa.field("tag", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),  # "context/namespace/kind/name container=c"
    ]
)

_USER_ORDER = ["context", "namespace", "kind", "name", "container", "image"]


def _is_registry_host(component: str) -> bool:
    """Docker's rule: the first path component names a registry if it looks like a host."""
    return "." in component or ":" in component or component == "localhost"


def normalise_image(ref: str) -> tuple[str, str | None, str | None]:
    """Split an image reference into (canonical repository, tag or None, digest or None).

    >>> normalise_image("nginx:1.25")
    ('docker.io/library/nginx', '1.25', None)
    >>> normalise_image("127.0.0.1:5000/acme/app@sha256:AB")
    ('127.0.0.1:5000/acme/app', None, 'sha256:ab')
    """
    name, _, digest = ref.strip().partition("@")
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    first, slash, rest = name.partition("/")
    if slash and _is_registry_host(first):
        host, path = first.lower(), rest
    else:
        host, path = DOCKER_HUB, name
    if host in DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    return f"{host}/{path}", tag or None, digest.lower() or None


def _empty_used() -> pa.Table:
    return USED_TAGS_SCHEMA.empty_table()


def _workload_refs(kube_images: pa.Table) -> pd.DataFrame:
    """One row per workload container, ranked by user order, with the parsed reference."""
    users = kube_images.select(KUBE_IMAGES_SCHEMA.names).to_pandas()
    users = users.sort_values(_USER_ORDER, kind="stable", ignore_index=True)
    users["rank"] = range(len(users))
    users["detail"] = (
        users["context"]
        + "/"
        + users["namespace"]
        + "/"
        + users["kind"]
        + "/"
        + users["name"]
        + " container="
        + users["container"]
    )
    images = pd.Series(users["image"].unique(), name="image")
    parsed = pd.DataFrame([normalise_image(i) for i in images], columns=["norm_repo", "ref_tag", "ref_digest"])
    parsed["image"] = images
    no_tag_no_digest = parsed["ref_tag"].isna() & parsed["ref_digest"].isna()
    parsed.loc[no_tag_no_digest, "ref_tag"] = IMPLICIT_TAG
    return users[["image", "rank", "detail"]].merge(parsed, on="image", how="inner")


def _tag_rows(tags: pa.Table) -> pd.DataFrame:
    frame = tags.select(["repository", "tag", "digest"]).to_pandas()
    repos = pd.Series(frame["repository"].unique(), name="repository")
    canonical = pd.DataFrame({"repository": repos, "norm_repo": [normalise_image(r)[0] for r in repos]})
    frame = frame.merge(canonical, on="repository", how="left")
    frame["norm_digest"] = frame["digest"].str.lower()
    return frame


def match_used_tags(tags: pa.Table, kube_images: pa.Table) -> pa.Table:
    """The tags of ``tags`` (IMAGE_TAGS_SCHEMA) that a workload of ``kube_images``
    (KUBE_IMAGES_SCHEMA) uses, as a USED_TAGS_SCHEMA table sorted by repository and tag.

    ``detail`` names the first user in (context, namespace, kind, name, container) order.
    """
    if tags.num_rows == 0 or kube_images.num_rows == 0:
        return _empty_used()
    refs = _workload_refs(kube_images)
    rows = _tag_rows(tags)
    by_tag = refs.dropna(subset=["ref_tag"]).merge(
        rows, left_on=["norm_repo", "ref_tag"], right_on=["norm_repo", "tag"], how="inner"
    )
    by_digest = refs.dropna(subset=["ref_digest"]).merge(
        rows, left_on=["norm_repo", "ref_digest"], right_on=["norm_repo", "norm_digest"], how="inner"
    )
    parts = [frame for frame in (by_tag, by_digest) if not frame.empty]
    if not parts:
        return _empty_used()
    hits = pd.concat(parts, ignore_index=True)
    first = (
        hits.sort_values("rank", kind="stable")
        .drop_duplicates(subset=["repository", "tag"], keep="first")
        .sort_values(["repository", "tag"], ignore_index=True)
    )
    return pa.Table.from_pandas(first[["repository", "tag", "detail"]], schema=USED_TAGS_SCHEMA, preserve_index=False)
