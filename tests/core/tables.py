"""Builders of the Arrow tables the images-cleanup core reads, for tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

import pyarrow as pa

from core.images import decide_images
from schemas.config import KeepPolicy, parse_keep_policies
from schemas.tables import COMMITS_SCHEMA, IMAGE_TAGS_SCHEMA, METADATA_SCHEMA, REFS_SCHEMA

IMAGES_REPO = "127.0.0.1:5000/acme/app"
STAGES_REPO = "127.0.0.1:5000/acme/stages"


def signature(label: str) -> str:
    """A 56-hex content signature derived from a readable label."""
    return hashlib.sha3_224(label.encode()).hexdigest()


def digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def slug(image: str) -> str:
    return image.replace("/", "__slash__").replace("+", "__plus__") or "__nameless__"


def metadata_table(records: Iterable[tuple[str, str, str | None]]) -> pa.Table:
    """Metadata records from (image_name, commit, content signature label)."""
    rows = [
        {
            "image_name": image,
            "commit": commit,
            "content_signature": None if label is None else signature(label),
            "repository": STAGES_REPO,
            "tag": f"image-metadata-by-commit-{slug(image)}-{commit}",
            "digest": digest(f"meta {image} {commit}"),
        }
        for image, commit, label in records
    ]
    return pa.Table.from_pylist(rows, schema=METADATA_SCHEMA)


def tags_table(tags: Iterable[tuple[str, str, str | None]]) -> pa.Table:
    """Images-repo tags from (image_name, tag, content signature label)."""
    rows = [
        {
            "image_name": image,
            "repository": f"{IMAGES_REPO}/{image}" if image else IMAGES_REPO,
            "tag": tag,
            "digest": digest(f"image {image} {label}"),
            "content_signature": None if label is None else signature(label),
            "parent_id": None,
            "created": None,
        }
        for image, tag, label in tags
    ]
    return pa.Table.from_pylist(rows, schema=IMAGE_TAGS_SCHEMA)


def refs_table(rows: Iterable[tuple[str, str, str, dt.datetime]]) -> pa.Table:
    """Refs from (name, kind, commit, date)."""
    names, kinds, commits, dates = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.table([list(names), list(kinds), list(commits), list(dates)], schema=REFS_SCHEMA)


def commits_table(rows: Iterable[tuple[str, list[str], dt.datetime]]) -> pa.Table:
    """Commits from (sha, parents, committed_at)."""
    rows = list(rows)
    shas, parents, dates = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table([list(shas), list(parents), list(dates)], schema=COMMITS_SCHEMA)


def policies(*raw: dict) -> list[KeepPolicy]:
    return parse_keep_policies(list(raw))


def decide(
    repo, tags: pa.Table, metadata: pa.Table, keep: list[KeepPolicy], now: dt.datetime, kube_used: pa.Table | None = None
) -> pa.Table:
    """decide_images over a GitRepo's real refs and commits."""
    return decide_images(tags, metadata, repo.references(), repo.commits(), keep, now, kube_used)


def by_tag(decisions: pa.Table) -> dict[str, tuple[str, str]]:
    """image-tag decisions as {tag: (action, reason)}."""
    return {row["tag"]: (row["action"], row["reason"]) for row in decisions.to_pylist() if row["item_type"] == "image-tag"}


def kept_tags(decisions: pa.Table) -> set[str]:
    return {tag for tag, (action, _) in by_tag(decisions).items() if action == "keep"}


def metadata_decisions(decisions: pa.Table) -> dict[str, tuple[str, str]]:
    """image-metadata decisions as {commit: (action, reason)} (one image per test)."""
    return {
        row["commit"]: (row["action"], row["reason"]) for row in decisions.to_pylist() if row["item_type"] == "image-metadata"
    }
