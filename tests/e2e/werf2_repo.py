"""Test worlds: a repository as werf 1.2 / 2.x leaves it (SPEC §13.2), written tag by tag through a
storage backend (``RegistryBackend`` or ``OciBackend``; e.g. ``open_stages_storage(addr, …).backend``
or ``open_repo(addr, …).backend``).

Two entry points:

* :func:`write_werf2_repo` ``(backend, repository, project, commit, built) -> Werf2Repo`` — a fixed
  small repository: three stages of image ``app`` (a chain), the last one deployed as custom tag
  ``v1.0.0``, a meta record, custom-tag and import metadata and a ``cleanup`` record. Its stage tags
  have the shape of werf v1.1's (the wrong-format tests use it).
* :class:`Werf2World` ``(backend, repository, project)`` — a builder; each method writes one record
  and returns its tag (stage methods: the stage ID):

  ==========================================================  ===============================================
  ``stage(built, parent=None, *, labels=None, digest=None,     a stage ``<digest>-<ms>`` (ms of ``built``); v2
  imports=(), import_checksums=None, dependencies=(),          labels (``werf``, ``werf-version``,
  project=None, v12=False, content=None)``                     ``werf-stage-content-digest``, parent by
                                                               ``werf.io/parent-stage-id``); ``v12``: werf 1.2's
                                                               (``werf-cache-version=1.2``, parent by config
                                                               ``Image``); ``imports``: source stage IDs
                                                               (``werf-import-source-stage-id-<n>``);
                                                               ``import_checksums``: ``{import id: checksum}``;
                                                               ``dependencies``: stage IDs
  ``multiplatform_stage(platform_stage_ids, platforms=None,    an image index (Docker manifest list) tagged
  untagged=False)``                                            ``<digest>``; ``untagged``: its platform
                                                               manifests are stored by digest only
  ``meta(image_name, commit, stage_id)``                       ``meta-<id>_<commit>_<stageID>``
  ``custom_tag(stage_id, tag, metadata=True,                   the custom tag (same manifest as the stage) and
  tagged=True)``                                               ``custom-tag-meta-<slug>``; returns (tag, meta);
                                                               ``tagged=False``: the metadata alone
  ``import_metadata(import_source_id, checksum,                ``import-metadata-<id>``: v2 (``source-stage-id``)
  source_stage_id=None, source_image_id=None)``                or v1.2 (``source-image-id``)
  ``reject(stage_id)``                                         ``<stageID>-rejected`` marker
  ``managed_image(name)``                                      ``managed-image-<slug>`` (werf's bytes)
  ``cleanup_record(timestamp_ms)``                             ``cleanup`` (werf's bytes)
  ``client_id(client_id, ms)``, ``sync_server()``              service records
  ``foreign(tag, same_as=None)``                               a tag no werf wrote; ``same_as``: on the
                                                               manifest of that tag (``docker tag``)
  ``v11_stage(built)``, ``v11_metadata(name, commit, sig)``    werf v1.1 content (the wrong format)
  ``copy_stage(stage_id, final)``                              the stage's config into another world's
                                                               repository under the same tag (a final repo)
  ==========================================================  ===============================================

  ``build(image_name, commit, built, n_stages=2, managed=True)`` writes what one ``werf build``
  leaves (a chain of stages, the last one's meta record, the managed image) and returns the chain.
  ``image_id(stage_id)`` is a stage's config digest; ``labels[stage_id]`` its labels;
  ``digest(tag)`` a tag's manifest digest; ``tags()`` every tag of the repository. Records'
  ``created`` is the write time unless given; ``record(tag, labels)`` writes any record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from adapters.registry import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST
from adapters.storage import codec
from adapters.storage.imageconfig import DOCKER_MEDIA_TYPES, OCI_MEDIA_TYPES, digest_of, image_manifest, unique_now_ns
from adapters.storage.oci import OciBackend
from adapters.storage.werf2_codec import (
    StageID,
    client_id_tag,
    custom_tag_metadata_tag,
    import_metadata_tag,
    meta_tag,
    parse_stage_id,
    rejected_marker_tag,
)
from adapters.storage.werf2_labels import (
    LABEL_BASE_IMAGE_ID,
    LABEL_CACHE_VERSION,
    LABEL_CUSTOM_TAG,
    LABEL_CUSTOM_TAG_STAGE_ID,
    LABEL_IMPORT_CHECKSUM,
    LABEL_IMPORT_CHECKSUM_PREFIX,
    LABEL_IMPORT_SOURCE_ID,
    LABEL_IMPORT_SOURCE_IMAGE_ID,
    LABEL_IMPORT_SOURCE_STAGE_ID,
    LABEL_IMPORT_SOURCE_STAGE_ID_PREFIX,
    LABEL_PARENT_STAGE_ID,
    LABEL_PROJECT,
    LABEL_STAGE_CONTENT_DIGEST,
    LABEL_STAGE_DIGEST,
    LABEL_SYNC_SERVER,
    LABEL_SYNC_SERVER_TIMESTAMP,
    LABEL_VERSION,
    ManifestOnlyRecord,
    cleanup_record,
    dependency_label,
    managed_image_record,
    manifest_only_record,
)


@dataclass
class Werf2Repo:
    repository: str
    stage_ids: list[str]
    records: list[str]  # meta, custom-tag and import metadata records, the cleanup record
    custom_tag: str

    @property
    def tags(self) -> set[str]:
        return {*self.stage_ids, *self.records, self.custom_tag}


def write_werf2_repo(backend, repository: str, project: str, commit: str, built: dt.datetime) -> Werf2Repo:
    """Three stages of image `app` (a chain), the last one deployed as custom tag `v1.0.0`."""
    stage_ids: list[str] = []
    parent: str | None = None
    for step in range(3):
        digest = hashlib.sha3_224(f"{project}/{repository}/{step}".encode()).hexdigest()
        when = built + dt.timedelta(minutes=step)
        stage_id = f"{digest}-{int(when.timestamp() * 1000)}"
        labels = {
            "werf": project,
            "werf-version": "v2.35.0",
            "werf-cache-version": "1.2",
            "werf-stage-content-digest": hashlib.sha3_224(f"content/{step}".encode()).hexdigest(),
        }
        if parent:
            labels["werf.io/parent-stage-id"] = parent
        backend.put_image(repository, stage_id, codec.image_config(labels, when))
        stage_ids.append(stage_id)
        parent = stage_id
    last = stage_ids[-1]
    custom_tag = "v1.0.0"
    backend.copy_tag(repository, last, custom_tag)
    records = {
        f"meta-5c1e1f8a_{commit}_{last}": {"werf": project},
        f"custom-tag-meta-{custom_tag}": {"werf": project, "stage-id": last, "tag": custom_tag},
        f"import-metadata-{hashlib.sha256(b'import').hexdigest()[:56]}": {
            "werf": project,
            "import-source-id": "a" * 56,
            "source-stage-id": stage_ids[0],
            "checksum": "b" * 56,
        },
        "cleanup": {"werf": project, "lastcleanuptimestamp": str(int(built.timestamp() * 1000))},
    }
    for tag, labels in records.items():
        backend.put_image(repository, tag, codec.image_config(labels, built))
    return Werf2Repo(repository, stage_ids, list(records), custom_tag)


_counter = itertools.count()


def _sha3(*parts: object) -> str:
    return hashlib.sha3_224("/".join(map(str, parts)).encode()).hexdigest()


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class Werf2World:
    """A werf 1.2 / 2.x repository written record by record (see the module's docstring)."""

    backend: object
    repository: str
    project: str
    werf_version: str = "v2.77.1"
    #: stage ID → its config bytes and labels
    configs: dict[str, bytes] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ stages

    def stage(
        self,
        built: dt.datetime,
        parent: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        digest: str | None = None,
        imports: Iterable[str] = (),
        import_checksums: Mapping[str, str] | None = None,
        dependencies: Iterable[str] = (),
        project: str | None = None,
        v12: bool = False,
        content: str | None = None,
    ) -> str:
        digest = digest or _sha3(self.project, self.repository, next(_counter))
        stage_id = StageID(digest, _ms(built)).tag
        values = {
            LABEL_PROJECT: project or self.project,
            LABEL_VERSION: "v1.2.300" if v12 else self.werf_version,
            LABEL_STAGE_CONTENT_DIGEST: content or _sha3("content", digest),
        }
        image_parent = None
        if v12:
            values[LABEL_CACHE_VERSION] = "1.2"
            values[LABEL_STAGE_DIGEST] = digest
            image_parent = self.image_id(parent) if parent else None
        elif parent:
            values[LABEL_PARENT_STAGE_ID] = parent
            values[LABEL_BASE_IMAGE_ID] = self.image_id(parent)
        for number, source in enumerate(imports):
            values[f"{LABEL_IMPORT_SOURCE_STAGE_ID_PREFIX}{_sha3('import', number, source)}"] = source
        for import_id, checksum in (import_checksums or {}).items():
            values[f"{LABEL_IMPORT_CHECKSUM_PREFIX}{import_id}"] = checksum
        for dependency in dependencies:
            values[dependency_label(dependency)] = dependency
        values.update(labels or {})
        config = codec.image_config(values, built, parent=image_parent)
        self.backend.put_image(self.repository, stage_id, config)
        self.configs[stage_id], self.labels[stage_id] = config, values
        return stage_id

    def build(
        self, image_name: str | None, commit: str, built: dt.datetime, n_stages: int = 2, *, managed: bool = True
    ) -> list[str]:
        """What one ``werf build`` of an image at ``commit`` leaves: a chain of ``n_stages`` stages
        (a minute apart from ``built``), the meta record of the last one and the managed image."""
        chain: list[str] = []
        for step in range(n_stages):
            chain.append(self.stage(built + dt.timedelta(minutes=step), chain[-1] if chain else None))
        self.meta(image_name, commit, chain[-1])
        if managed:
            self.managed_image(image_name)
        return chain

    def tags(self) -> set[str]:
        return set(self.backend.list_tags(self.repository))

    def image_id(self, stage_id: str) -> str:
        return digest_of(self.configs[stage_id])

    def digest(self, tag: str) -> str:
        return self.backend.digests(self.repository, [tag])[tag]

    def _media(self):  # the manifest media types the backend's put_image writes
        return OCI_MEDIA_TYPES if isinstance(self.backend, OciBackend) else DOCKER_MEDIA_TYPES

    def multiplatform_stage(
        self, platform_stage_ids: Sequence[str], platforms: Sequence[str] | None = None, *, untagged: bool = False
    ) -> str:
        """An index over the platform stages' manifests, tagged by the digest of their stage IDs
        (as werf computes it). ``untagged``: the platform stages' tags are removed afterwards, so
        their manifests are reachable through the index only."""
        platforms = list(platforms or [f"linux/arch{i}" for i in range(len(platform_stage_ids))])
        media = self._media()
        entries = []
        for stage_id, platform in zip(platform_stage_ids, platforms, strict=True):
            manifest = image_manifest(self.configs[stage_id], media)
            os_name, arch = platform.split("/", 1)
            entries.append(
                {
                    "mediaType": media.manifest,
                    "size": len(manifest),
                    "digest": digest_of(manifest),
                    "platform": {"architecture": arch, "os": os_name},
                }
            )
        document = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": entries}
        raw = json.dumps(document, separators=(",", ":")).encode()
        tag = StageID(_sha3(*platform_stage_ids), 0).tag
        self.backend.put_manifest(self.repository, tag, raw, DOCKER_MANIFEST_LIST)
        if untagged:
            self._untag(platform_stage_ids)
        self.labels[tag] = self.labels[platform_stage_ids[-1]]
        return tag

    def _untag(self, tags: Sequence[str]) -> None:
        if isinstance(self.backend, OciBackend):  # the layout keeps blobs an index still references
            self.backend.delete(self.repository, [[(tag, None) for tag in tags]], None, leaving=tags)
            return
        # a registry deletes by digest: store the manifest again by digest after the delete
        client = self.backend.client
        for raw in (image_manifest(self.configs[tag], self._media()) for tag in tags):
            client.delete_manifest(self.repository, digest_of(raw))
            client.put_manifest(self.repository, digest_of(raw), raw, DOCKER_MANIFEST)

    def copy_stage(self, stage_id: str, final: Werf2World) -> str:
        """The stage in ``final``'s repository under the same tag (werf's final repo copy)."""
        final.backend.put_image(final.repository, stage_id, self.configs[stage_id])
        final.configs[stage_id], final.labels[stage_id] = self.configs[stage_id], self.labels[stage_id]
        return stage_id

    # ------------------------------------------------------------------ records

    def _record(self, record: ManifestOnlyRecord) -> str:
        blobs = {record.config_digest: record.config, digest_of(record.layer): record.layer}
        self.backend.put_manifest(self.repository, record.tag, record.manifest, DOCKER_MANIFEST, blobs)
        return record.tag

    def record(self, tag: str, labels: Mapping[str, str], created: dt.datetime | None = None) -> str:
        """Any manifest-only record as werf 2.x writes it (one empty layer)."""
        return self._record(manifest_only_record(tag, labels, created or unique_now_ns()))

    def meta(self, image_name: str | None, commit: str, stage_id: str) -> str:
        return self.record(meta_tag(image_name, commit, stage_id), {LABEL_PROJECT: self.project})

    def custom_tag(self, stage_id: str, tag: str, *, metadata: bool = True, tagged: bool = True) -> tuple[str, str]:
        if tagged:
            self.backend.copy_tag(self.repository, stage_id, tag)
        meta = custom_tag_metadata_tag(tag)
        if metadata:
            self.record(meta, {LABEL_PROJECT: self.project, LABEL_CUSTOM_TAG_STAGE_ID: stage_id, LABEL_CUSTOM_TAG: tag})
        return tag, meta

    def import_metadata(
        self, import_source_id: str, checksum: str, *, source_stage_id: str | None = None, source_image_id: str | None = None
    ) -> str:
        labels = {LABEL_PROJECT: self.project, LABEL_IMPORT_SOURCE_ID: import_source_id, LABEL_IMPORT_CHECKSUM: checksum}
        if source_stage_id:
            labels[LABEL_IMPORT_SOURCE_STAGE_ID] = source_stage_id
        if source_image_id:
            labels[LABEL_IMPORT_SOURCE_IMAGE_ID] = source_image_id
        return self.record(import_metadata_tag(import_source_id), labels)

    def reject(self, stage_id: str) -> str:
        stage = parse_stage_id(stage_id)
        assert stage is not None, stage_id
        return self.record(rejected_marker_tag(stage), {LABEL_PROJECT: self.project})

    def managed_image(self, name: str | None) -> str:
        return self._record(managed_image_record(self.project, name, unique_now_ns()))

    def cleanup_record(self, timestamp_ms: int) -> str:
        return self._record(cleanup_record(self.project, timestamp_ms, unique_now_ns()))

    def client_id(self, client_id: str, ms: int) -> str:
        return self.record(client_id_tag(client_id, ms), {LABEL_PROJECT: self.project})

    def sync_server(self, address: str = "http://sync.example:80") -> str:
        labels = {LABEL_PROJECT: self.project, LABEL_SYNC_SERVER: address, LABEL_SYNC_SERVER_TIMESTAMP: "1700000000000"}
        return self.record("sync-server", labels)

    def foreign(self, tag: str, *, same_as: str | None = None) -> str:
        if same_as is not None:
            self.backend.copy_tag(self.repository, same_as, tag)
        else:
            self.backend.put_image(
                self.repository, tag, codec.image_config({"org.opencontainers.image.title": tag}, unique_now_ns())
            )
        return tag

    # ------------------------------------------------------------------ werf v1.1 content

    def v11_stage(self, built: dt.datetime) -> str:
        signature = _sha3("v1.1", self.project, next(_counter))
        tag = codec.format_stage_tag(signature, _ms(built))
        labels = codec.stage_labels(self.project, signature, f"{self.repository}:{tag}")
        config = codec.image_config(labels, built)
        self.backend.put_image(self.repository, tag, config)
        self.configs[tag], self.labels[tag] = config, labels
        return tag

    def v11_metadata(self, image_name: str, commit: str, content_signature: str) -> str:
        tag = codec.metadata_tag(image_name, commit)
        config = codec.image_config(codec.metadata_labels(self.project, content_signature), unique_now_ns())
        self.backend.put_image(self.repository, tag, config)
        return tag
