"""Arrow schemas of every table that travels between layers.

Adapters produce these tables, core consumes and produces them, the audit writes
``AUDIT_SCHEMA``. Timestamps are ``timestamp[us, UTC]`` everywhere.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

#: Git references that can be scanned: origin remote branches and tags (SPEC §3).
REFS_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),  # branch without "origin/", or tag name
        pa.field("kind", pa.string(), nullable=False),  # vocab.RefKind
        pa.field("commit", pa.string(), nullable=False),  # sha the ref points to (peeled)
        pa.field("date", TS, nullable=False),  # branch: committer time; tag: tagger time or committer time
    ]
)

#: Commit graph read in one pass.
COMMITS_SCHEMA = pa.schema(
    [
        pa.field("sha", pa.string(), nullable=False),
        pa.field("parents", pa.list_(pa.string()), nullable=False),
        pa.field("committed_at", TS, nullable=False),
    ]
)

#: werf end-image tags in the images repo (only tags with werf-image=true).
IMAGE_TAGS_SCHEMA = pa.schema(
    [
        pa.field("image_name", pa.string(), nullable=False),  # "" for the nameless image
        pa.field("repository", pa.string(), nullable=False),  # e.g. 127.0.0.1:5000/acme/app
        pa.field("tag", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),  # manifest digest
        pa.field("content_signature", pa.string(), nullable=True),
        pa.field("parent_id", pa.string(), nullable=True),  # image id of the last stage
        pa.field("created", TS, nullable=True),
        pa.field("size_bytes", pa.int64(), nullable=True),  # config + layers of the manifest
    ]
)

#: image-metadata-by-commit records of the stages storage.
METADATA_SCHEMA = pa.schema(
    [
        pa.field("image_name", pa.string(), nullable=False),
        pa.field("commit", pa.string(), nullable=False),
        pa.field("content_signature", pa.string(), nullable=True),
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),  # the record's tag
        pa.field("digest", pa.string(), nullable=True),
    ]
)

#: Stages of the stages storage (tag parses as <signature>-<uniqueID>).
STAGES_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("signature", pa.string(), nullable=False),
        pa.field("unique_id", pa.int64(), nullable=False),  # build time, Unix ms
        pa.field("digest", pa.string(), nullable=True),  # manifest digest (registry/oci) or image id (:local)
        pa.field("image_id", pa.string(), nullable=True),  # config digest
        pa.field("parent_id", pa.string(), nullable=True),  # config.Image
        pa.field("import_ids", pa.list_(pa.string()), nullable=False),  # werf-import-* label values
        pa.field("created", TS, nullable=True),
        pa.field("rejected", pa.bool_(), nullable=False),  # a -rejected marker exists
        pa.field("rejected_tag", pa.string(), nullable=True),
        pa.field("rejected_digest", pa.string(), nullable=True),
        pa.field("size_bytes", pa.int64(), nullable=True),  # config + layers (null on :local)
        pa.field("project", pa.string(), nullable=True),  # its `werf` label (null: no label, or not read)
    ]
)

#: Signs of werf 1.2 / 2.x content found in a storage read as werf v1.1's (SPEC §13.4): a v1.1
#: run that finds any stops before it decides anything.
NEWER_FORMAT_SIGNS_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("sign", pa.string(), nullable=False),  # what was found, e.g. "a werf 1.2+ image metadata record (meta-…)"
    ]
)

#: The blobs each described manifest references, as read while listing (no extra requests):
#: the manifest itself, its config and its layers. Feeds ``core.reclaim``.
BLOBS_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("blob_digest", pa.string(), nullable=False),
        pa.field("blob_size", pa.int64(), nullable=False),
    ]
)

#: managed-image-* records.
MANAGED_IMAGES_SCHEMA = pa.schema(
    [
        pa.field("image_name", pa.string(), nullable=False),
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=True),
    ]
)

#: Images used by Kubernetes workloads.
KUBE_IMAGES_SCHEMA = pa.schema(
    [
        pa.field("context", pa.string(), nullable=False),
        pa.field("namespace", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("container", pa.string(), nullable=False),
        pa.field("image", pa.string(), nullable=False),
    ]
)

#: One decision per item; the plan is a DECISIONS table in execution order.
DECISIONS_SCHEMA = pa.schema(
    [
        pa.field("storage", pa.string(), nullable=False),  # vocab.StorageKind
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=True),
        pa.field("digest", pa.string(), nullable=True),
        pa.field("item_type", pa.string(), nullable=False),  # vocab.ItemType
        pa.field("image_name", pa.string(), nullable=True),  # "~" for the nameless image
        pa.field("signature", pa.string(), nullable=True),
        pa.field("commit", pa.string(), nullable=True),
        pa.field("action", pa.string(), nullable=False),  # vocab.Action
        pa.field("reason", pa.string(), nullable=False),  # vocab.Reason
        pa.field("detail", pa.string(), nullable=True),
        pa.field("size_bytes", pa.int64(), nullable=True),  # config + layers, where the manifest was read
    ]
)

#: The Parquet audit (SPEC §10). Column order and types are a contract.
AUDIT_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("command", pa.string(), nullable=False),
        pa.field("dry_run", pa.bool_(), nullable=False),
        pa.field("project", pa.string(), nullable=False),
        pa.field("started_at", TS, nullable=False),
        pa.field("decided_at", TS, nullable=False),
        pa.field("storage", pa.string(), nullable=False),
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=True),
        pa.field("digest", pa.string(), nullable=True),
        pa.field("item_type", pa.string(), nullable=False),
        pa.field("image_name", pa.string(), nullable=True),
        pa.field("signature", pa.string(), nullable=True),
        pa.field("commit", pa.string(), nullable=True),
        pa.field("action", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=True),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("error", pa.string(), nullable=True),
        # added later: audits written before have neither; read_audit fills them with nulls
        pa.field("size_bytes", pa.int64(), nullable=True),
        # bytes of blobs this row's delete leaves unreferenced in its registry (each blob counted
        # once per run); the run's reclaimable bytes are the sum over its rows
        pa.field("reclaimable_bytes", pa.int64(), nullable=True),
    ]
)


def empty(schema: pa.Schema) -> pa.Table:
    """An empty table of ``schema``."""
    return schema.empty_table()


#: one row of a decision, plan or audit table as a Python mapping (``Table.to_pylist()``)
Row = dict[str, Any]
