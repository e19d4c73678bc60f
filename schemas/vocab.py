"""Closed vocabularies shared by every layer: reasons, item types, outcomes, storage kinds.

The string values are part of the audit contract (SPEC §10); never rename them.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    KEEP = "keep"
    DELETE = "delete"


class Reason(StrEnum):
    # keep reasons
    USED_IN_KUBERNETES = "used-in-kubernetes"
    GIT_POLICY = "git-policy"
    BUILT_WITHIN_LAST_N_HOURS = "built-within-last-n-hours"
    PARENT_OF_KEPT_IMAGE = "parent-of-kept-image"
    IMPORT_SOURCE = "import-source"
    USED_BY_CONTAINER = "used-by-container"
    HIT_COMMIT = "hit-commit"
    #: a stage labelled for another project (`werf` label): never this project's to delete
    OTHER_PROJECT = "other-project"
    # delete reasons
    NO_METADATA = "no-metadata"
    NOT_REACHED_BY_POLICY = "not-reached-by-policy"
    UNUSED_STAGE = "unused-stage"
    REJECTED = "rejected"
    NONEXISTENT_COMMIT = "nonexistent-commit"
    UNHIT_COMMIT = "unhit-commit"
    UNUSED_METADATA = "unused-metadata"
    PURGE = "purge"
    # host cleaning
    HOST_CLEANUP = "host-cleanup"
    STORAGE_VOLUME_USAGE = "storage-volume-usage"
    # apply re-checks and deletes: the tag points to another digest than when the plan was made
    TAG_MOVED = "tag-moved"
    # at delete time a tag that stays points to the same manifest (a registry deletes by digest)
    SHARED_DIGEST = "shared-digest"
    # werf 1.2 / 2.x repository (SPEC §13.3)
    #: cleanup.disable in werf.yaml: every managed-image and meta record goes, nothing else
    CLEANUP_DISABLED = "cleanup-disabled"
    NONEXISTENT_IMAGE = "nonexistent-image"
    NONEXISTENT_STAGE = "nonexistent-stage"
    GIT_POLICY_DISABLED = "git-policy-disabled"
    KEEP_LIST = "keep-list"
    #: a parent (or further ancestor) of a protected stage
    ANCESTOR = "ancestor"
    DEPENDENCY_SOURCE = "dependency-source"
    IMAGE_INDEX_PLATFORM = "image-index-platform"
    #: a stage whose manifest or config could not be read: never deleted in that run
    UNREADABLE = "unreadable"
    #: a custom tag (or its metadata) of a stage this run deletes
    STAGE_DELETED = "stage-deleted"
    #: an import metadata record whose source stage is not protected
    UNUSED_IMPORT_METADATA = "unused-import-metadata"
    #: a record of a stage whose delete did not happen in this run (failed, tag-moved,
    #: shared-digest) stays with its stage: a rejected marker (v1.1 and v2), custom tags, their
    #: metadata, import metadata, the final copy (v2)
    STAGE_STAYS = "stage-stays"
    #: a custom-tag metadata record of a stage one of whose custom tags was not deleted in this run
    CUSTOM_TAG_STAYS = "custom-tag-stays"


class ItemType(StrEnum):
    IMAGE_TAG = "image-tag"
    STAGE = "stage"
    REJECTED_MARKER = "rejected-marker"
    IMAGE_METADATA = "image-metadata"
    MANAGED_IMAGE = "managed-image"
    LOCAL_IMAGE = "local-image"
    CONTAINER = "container"
    CACHE_ENTRY = "cache-entry"
    # werf 1.2 / 2.x repository (SPEC §13.3)
    CUSTOM_TAG = "custom-tag"
    CUSTOM_TAG_METADATA = "custom-tag-metadata"
    IMPORT_METADATA = "import-metadata"
    FINAL_STAGE = "final-stage"


class Outcome(StrEnum):
    KEPT = "kept"
    WOULD_DELETE = "would-delete"
    DELETED = "deleted"
    ALREADY_GONE = "already-gone"
    FAILED = "failed"
    BLOCKED = "blocked"
    #: the delete's batch began (its requests may have been sent) and the run recorded no outcome
    #: for it: a run that died mid-batch leaves its rows so; `apply --only-failed` and the next
    #: run resolve them (`deleted`, or `already-gone` when the registry had done it)
    STARTED = "started"


class StorageKind(StrEnum):
    IMAGES_REPO = "images-repo"
    STAGES_STORAGE = "stages-storage"
    HOST = "host"
    #: werf 1.2 / 2.x: the one repository (`--repo`) and werf's copy of final images (`--final-repo`)
    REPO = "repo"
    FINAL_REPO = "final-repo"


class Command(StrEnum):
    CLEANUP = "cleanup"
    IMAGES_CLEANUP = "images-cleanup"
    STAGES_CLEANUP = "stages-cleanup"
    PURGE = "purge"
    IMAGES_PURGE = "images-purge"
    STAGES_PURGE = "stages-purge"
    HOST_CLEANUP = "host-cleanup"
    HOST_PURGE = "host-purge"
    MANAGED_IMAGES_RM = "managed-images-rm"
    APPLY = "apply"


class RefKind(StrEnum):
    BRANCH = "branch"
    TAG = "tag"


class ImagesRepoMode(StrEnum):
    MULTIREPO = "multirepo"
    MONOREPO = "monorepo"
