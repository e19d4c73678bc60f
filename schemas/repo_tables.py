"""Arrow tables of a werf 1.2 / 2.x repository (one `--repo`, SPEC §13), read once per run.

The adapter (`adapters.storage.werf2_repo`) fills a :class:`RepoInventory`; core
(`core.werf2_cleanup`, `core.werf2_purge`) decides over it and returns DECISIONS tables
(`schemas.tables.DECISIONS_SCHEMA`) whose `storage` is `repo` or `final-repo`.
Timestamps are ``timestamp[us, UTC]`` like every other table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from schemas.tables import BLOBS_SCHEMA, MANAGED_IMAGES_SCHEMA, TS

#: Every tag of R (and F) once, with what it is (`adapters.storage.werf2_codec.Werf2RecordKind`
#: values: stage, multiplatform-stage, rejected-marker, managed-image, image-metadata,
#: custom-tag-metadata, import-metadata, cleanup, client-id, sync-server, foreign) and, where
#: the run read it, its manifest digest. Custom tags are listed with kind `custom-tag`.
REPO_TAGS_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=True),
    ]
)

#: Stages of R (or F): tags `<digest>-<creationTs>` (70 chars) and multi-platform `<digest>`.
#: Stages whose manifest or config could not be read are not here (see `RepoInventory.unreadable`).
REPO_STAGES_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),  # the stage ID (= the tag)
        pa.field("stage_digest", pa.string(), nullable=False),  # the 56-hex content digest part
        pa.field("creation_ts", pa.int64(), nullable=False),  # Unix ms; 0 for a multi-platform stage
        pa.field("digest", pa.string(), nullable=True),  # manifest (or index) digest
        pa.field("image_id", pa.string(), nullable=True),  # config digest (null for an index)
        pa.field("parent_image_id", pa.string(), nullable=True),  # config Image, else werf.io/base-image-id
        pa.field("parent_stage_id", pa.string(), nullable=True),  # werf.io/parent-stage-id (v2)
        pa.field("import_source_ids", pa.list_(pa.string()), nullable=False),  # werf-import-source-stage-id-* (stage IDs)
        pa.field("import_checksums", pa.list_(pa.string()), nullable=False),  # werf-import-checksum-* values
        pa.field("dependency_ids", pa.list_(pa.string()), nullable=False),  # werf-dependency-stage-id-* (stage IDs)
        pa.field("platform_digests", pa.list_(pa.string()), nullable=False),  # an index's manifests; [] otherwise
        pa.field("created", TS, nullable=True),  # config `created`; an index: the newest of its platforms
        pa.field("rejected", pa.bool_(), nullable=False),  # a `<stageID>-rejected` marker exists
        pa.field("rejected_tag", pa.string(), nullable=True),
        pa.field("rejected_digest", pa.string(), nullable=True),
        pa.field("size_bytes", pa.int64(), nullable=True),  # config + layers of the manifest
        pa.field("project", pa.string(), nullable=True),  # its `werf` label
        pa.field("cache_version", pa.string(), nullable=True),  # `werf-cache-version` (1.1 → refused, §13.4)
    ]
)

#: `meta-<id>_<commit>_<stageID>` records, grouped by image through `image_name` (null when no
#: name of the werf.yaml or of a managed image has this id: the image is not in werf.yaml).
REPO_META_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("image_id", pa.string(), nullable=False),  # the MurmurHash3 id in the tag
        pa.field("image_name", pa.string(), nullable=True),
        pa.field("commit", pa.string(), nullable=False),
        pa.field("stage_id", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=True),
    ]
)

#: Custom tags, one row per `custom-tag-meta-…` record whose labels are werf's.
CUSTOM_TAGS_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("custom_tag", pa.string(), nullable=False),  # the name people deploy
        pa.field("custom_tag_digest", pa.string(), nullable=True),  # null: the custom tag itself is absent
        pa.field("meta_tag", pa.string(), nullable=False),  # custom-tag-meta-<slug>
        pa.field("meta_digest", pa.string(), nullable=True),
        pa.field("stage_id", pa.string(), nullable=False),
        pa.field("project", pa.string(), nullable=True),
    ]
)

#: `import-metadata-<importSourceID>` records.
IMPORT_METADATA_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("digest", pa.string(), nullable=True),
        pa.field("import_source_id", pa.string(), nullable=False),
        pa.field("checksum", pa.string(), nullable=False),
        pa.field("source_stage_id", pa.string(), nullable=True),  # v2
        pa.field("source_image_id", pa.string(), nullable=True),  # v1.2: the source stage's image id
        pa.field("project", pa.string(), nullable=True),
    ]
)

#: Signs that a `--repo` holds werf v1.1 content (SPEC §13.4), same columns as
#: `schemas.tables.NEWER_FORMAT_SIGNS_SCHEMA`.
OLDER_FORMAT_SIGNS_SCHEMA = pa.schema(
    [
        pa.field("repository", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("sign", pa.string(), nullable=False),
    ]
)


@dataclass
class RepoInventory:
    """One repository (R or F) as a run read it."""

    repository: str  # the address as given (`HOST/PATH` or `oci:DIR`)
    tags: pa.Table = field(default_factory=REPO_TAGS_SCHEMA.empty_table)
    stages: pa.Table = field(default_factory=REPO_STAGES_SCHEMA.empty_table)
    meta: pa.Table = field(default_factory=REPO_META_SCHEMA.empty_table)
    custom_tags: pa.Table = field(default_factory=CUSTOM_TAGS_SCHEMA.empty_table)
    import_metadata: pa.Table = field(default_factory=IMPORT_METADATA_SCHEMA.empty_table)
    managed: pa.Table = field(default_factory=MANAGED_IMAGES_SCHEMA.empty_table)
    #: tags of stages (or records) whose content could not be read: never deleted in this run
    unreadable: dict[str, str] = field(default_factory=dict)  # tag -> why
    #: werf v1.1 signs (§13.4): a run that finds any stops before it decides anything
    older_format: pa.Table = field(default_factory=OLDER_FORMAT_SIGNS_SCHEMA.empty_table)
    #: `lastcleanuptimestamp` of the `cleanup` record (Unix ms), None when absent
    last_cleanup_ms: int | None = None
    #: blobs of every manifest read (BLOBS_SCHEMA), for the audit's reclaimable bytes
    blobs: pa.Table = field(default_factory=BLOBS_SCHEMA.empty_table)

    @property
    def managed_names(self) -> list[str]:
        return self.managed.column("image_name").to_pylist()
