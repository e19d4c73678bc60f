"""A repository as werf 1.2 / 2.x leaves it (SPEC §13.2), written tag by tag through a storage
backend: stages linked by `werf.io/parent-stage-id`, meta records, a custom tag with its metadata,
import metadata and a `cleanup` record. Its stage tags have the shape of werf v1.1's."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from adapters.storage import codec


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
