"""``default``: a registry that speaks only the Registry API (Distribution, ACR's and Nexus's or
JFrog's v2 endpoints, zot).

A tag goes with ``DELETE /v2/<name>/manifests/<digest>``, which removes every tag on that
manifest — so a tag whose digest a staying tag shares is kept (``shared-digest``) — unless the
registry deletes tags themselves (distribution-spec 1.1: ``DELETE /v2/<name>/manifests/<tag>``;
zot, Distribution 3, Artifact Registry), where the tag alone is removed. Whether it does is found
out once per repository, and only when a staying tag shares a digest being deleted, by deleting a
tag that cannot exist: ``404 MANIFEST_UNKNOWN`` means the registry understood a tag delete;
Distribution 2 answers ``400 DIGEST_INVALID`` (it deletes by digest only). A digest no staying
tag shares is deleted whole, as before: that frees its storage.
"""

from __future__ import annotations

import threading
import uuid

from adapters.registry.client import _repository
from adapters.registry.vendors.base import TagDeleter
from schemas.errors import RegistryAuthError, RegistryError
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

#: (registry URL, repository) → whether it deletes tags alone; asked once per process
_deletes_tags: dict[tuple[str, str], bool] = {}
_deletes_tags_lock = threading.Lock()


class DefaultDeleter(TagDeleter):
    implementation = RepoImplementation.DEFAULT

    def deletes_tags(self, repository: str) -> bool:
        """Whether the registry removes a tag alone (distribution-spec 1.1 tag delete)."""
        key = (self.client.transport.url(_repository(repository).registry, "/"), repository)
        with _deletes_tags_lock:
            known = _deletes_tags.get(key)
        if known is None:
            answer = self._probe_tag_delete(repository)
            if answer is None:
                return False  # no answer this time (429, 5xx, network): deletes by digest, asks again later
            known = answer
            with _deletes_tags_lock:
                _deletes_tags[key] = known
        return known

    def _probe_tag_delete(self, repository: str) -> bool | None:
        """Whether the registry understood a tag delete; None when it could not say (a rate
        limit, a server or network error), which is not remembered."""
        ref = _repository(repository)
        probe = f"stagesweep-probe-{uuid.uuid4().hex[:16]}"
        try:
            response = self.client.transport.request(
                "DELETE", ref.registry, f"/v2/{ref.path}/manifests/{probe}", scope=f"repository:{ref.path}:delete"
            )
        except RegistryAuthError:
            raise
        except RegistryError:
            return None
        if response.status == 429 or response.status >= 500:
            return None
        if response.status != 404:
            return False
        # Distribution 2 answers 404 for an unknown repository whatever the reference; only a
        # MANIFEST_UNKNOWN about the tag (not NAME_UNKNOWN) tells a tag delete was understood.
        return b"NAME_UNKNOWN" not in response.body and b"DIGEST_INVALID" not in response.body

    def deletes_tag_alone(self, repository: str) -> bool:
        return self.deletes_tags(repository)

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        # a digest no staying tag shares goes whole (its storage is freed); a shared one only
        # where the registry can remove the tag alone (asked by deletes_tag_alone before)
        if shared and self.deletes_tags(repository):
            ref = _repository(repository)
            response = self.client.transport.request(
                "DELETE", ref.registry, f"/v2/{ref.path}/manifests/{tag}", scope=f"repository:{ref.path}:delete"
            )
            if response.status in (200, 202, 204):
                return Outcome.DELETED
            if response.status == 404:
                return Outcome.ALREADY_GONE
            raise self.client._fail(f"cannot delete tag {repository}:{tag}", response, wait=False)
        return super().delete_tag(repository, tag, digest, shared)


def forget_tag_deletes() -> None:
    """Forget which registries delete tags alone (a process that sees a host:port change hands)."""
    with _deletes_tags_lock:
        _deletes_tags.clear()
