"""``gcr``: Google Container Registry (``gcr.io``, ``*.gcr.io``) and Artifact Registry
(``LOCATION-docker.pkg.dev``), through the Registry API as Google serves it on the registry's own
host — no other API, no other host.

From Google's documentation ("Deleting images",
https://cloud.google.com/artifact-registry/docs/docker/manage-images#deleting_images ; permissions,
https://cloud.google.com/artifact-registry/docs/access-control ; the Docker Registry API as Google
implements it):

* **Delete a tag**: ``DELETE /v2/<name>/manifests/<tag>`` removes the tag only (``gcloud … untag``);
  the manifest and its other tags stay.
* **Delete the manifest**: ``DELETE /v2/<name>/manifests/<digest>`` once no tag remains on it —
  Google refuses to delete a manifest a tag still names (400/409 ``GOOGLE_MANIFEST_DANGLING_TAG``,
  "Manifest is still referenced by tag"). So a tag goes in two steps: the tag, then — unless a
  staying tag shares the digest — the manifest, to free its storage. A refusal of the second step
  means another tag still holds the manifest (one deleted later in the run takes it along, or one
  that stays keeps it): the tag is gone, which is the outcome asked for.
* **Listing with digests**: Google's ``GET /v2/<name>/tags/list`` carries a ``manifest`` object,
  ``{digest: {"tag": [...], "imageSizeBytes", "mediaType", "timeCreatedMs", "timeUploadedMs"}}``,
  paged with ``n``/``last`` and ``Link: <…>; rel="next"`` — every tag's digest in a few requests.
* **Credentials**: the Docker config (``gcloud auth configure-docker`` → the ``gcloud`` credential
  helper; ``_json_key`` + a service account key; ``oauth2accesstoken`` + an access token), used in
  the registry's token flow (``/v2/token`` on the registry host).
* **Refusals**: a missing permission is ``403 DENIED`` "Permission "artifactregistry.repositories.deleteArtifacts"
  denied on resource …" (Artifact Registry; ``storage.objects.delete`` on the bucket for Container
  Registry's own storage). ``405``/``UNSUPPORTED`` ("Unsupported action delete", a historical GCR
  answer) means the host or repository does not take deletes at all.
"""

from __future__ import annotations

import fnmatch
import logging
import urllib.parse

from adapters.registry.client import _repository
from adapters.registry.errors import parse_error_body
from adapters.registry.reference import Reference
from adapters.registry.transport import Response
from adapters.registry.vendors.base import DIGEST, PROBE_DIGEST, TagDeleter, link_paged_listing, vendor_message
from schemas.errors import RegistryAuthError, RegistryError
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
_ARTIFACT_REGISTRY_HOSTS = ("*-docker.pkg.dev", "*.pkg.dev")
_CONTAINER_REGISTRY_HOSTS = ("gcr.io", "*.gcr.io")
#: what Google answers a manifest delete while a tag still names the manifest
_DANGLING_CODES = {"GOOGLE_MANIFEST_DANGLING_TAG", "MANIFEST_DANGLING_TAG"}
_CREDENTIALS_HELP = (
    "`gcloud auth configure-docker HOST` (the gcloud credential helper), or `docker login -u oauth2accesstoken` "
    "with `gcloud auth print-access-token`, or `docker login -u _json_key` with a service account key; "
    "the Docker config is chosen with --docker-config / DOCKER_CONFIG"
)


def _host_name(host: str) -> str:
    return host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower()


def host_permission(host: str) -> str | None:
    """The permission Google checks for a delete on ``host``, where the host tells the product."""
    name = _host_name(host)
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in _ARTIFACT_REGISTRY_HOSTS):
        return "artifactregistry.repositories.deleteArtifacts (Artifact Registry)"
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in _CONTAINER_REGISTRY_HOSTS):
        return (
            "storage.objects.delete on the project's artifacts bucket (Container Registry), or "
            "artifactregistry.repositories.deleteArtifacts where gcr.io is served by Artifact Registry"
        )
    return None


def _still_tagged(response: Response) -> bool:
    """Whether a refused manifest delete says a tag still names the manifest."""
    if response.status not in (400, 409, 412):
        return False
    code, message = parse_error_body(response.body)
    if code in _DANGLING_CODES:
        return True
    text = (message or vendor_message(response.body) or "").lower()
    return "still referenced" in text or "dangling" in text


def _unsupported(response: Response) -> bool:
    return response.status == 405 or parse_error_body(response.body)[0] == "UNSUPPORTED"


class GcrDeleter(TagDeleter):
    implementation = RepoImplementation.GCR
    #: tags asked for per page of the tags/list listing (``n``)
    page_size = PAGE_SIZE

    # -- requests on the registry host ---------------------------------------------------------
    def _request(self, method: str, ref: Reference, path: str, actions: str) -> Response:
        return self.client.transport.request(method, ref.registry, path, scope=f"repository:{ref.path}:{actions}")

    # -- messages -----------------------------------------------------------------------------
    def permission_hint(self, host: str | None = None) -> str:
        hint = super().permission_hint()
        specific = host_permission(host) if host else None
        if specific:
            hint = f"On {host} that is {specific}. {hint}"
        return f"{hint} Log in with {_CREDENTIALS_HELP}."

    def _refused(self, repository: str, ref: Reference, detail: str, status: int | None, url: str | None) -> RegistryAuthError:
        specific = host_permission(ref.registry)
        needs = f"{specific}; in general {self.spec.permission}" if specific else self.spec.permission
        return RegistryAuthError(
            f"the gcr implementation cannot delete in {repository}: Google refused ({detail}) — deleting needs {needs}"
            + (f" [{url}]" if url else ""),
            status=status,
            url=url,
            hint=self.permission_hint(ref.registry),
        )

    def _unsupported_error(self, what: str, response: Response, ref: Reference) -> RegistryError:
        code, detail = parse_error_body(response.body)
        answer = f"{response.status} {code or 'UNSUPPORTED'}" + (f": {detail}" if detail else "")
        return RegistryError(
            f"{what}: {ref.registry} does not take deletes in {ref.path} ({answer}) [{response.url}]",
            status=response.status,
            code=code or "UNSUPPORTED",
            url=response.url,
            retryable=False,
            hint="Google answers 'Unsupported action delete' where the repository does not store the images "
            "itself: a remote or virtual Artifact Registry repository, a mirror such as mirror.gcr.io, or a "
            "Container Registry path not backed by the project. Point the storage at the standard repository "
            "(LOCATION-docker.pkg.dev/PROJECT/REPOSITORY or gcr.io/PROJECT). Nothing was deleted there.",
        )

    def _error(self, what: str, response: Response, ref: Reference) -> RegistryError:
        if _unsupported(response):
            return self._unsupported_error(what, response, ref)
        error = self.fail(what, response)
        if isinstance(error, RegistryAuthError):
            error.hint = self.permission_hint(ref.registry)
        return error

    # -- the interface ------------------------------------------------------------------------
    def preflight(self, repository: str) -> None:
        """Delete a digest that cannot exist: 404 (or 202) means Google let the delete through."""
        ref = _repository(repository)
        try:
            response = self._request("DELETE", ref, f"/v2/{ref.path}/manifests/{PROBE_DIGEST}", "delete")
        except RegistryAuthError as exc:
            raise self._refused(repository, ref, exc.message, exc.status or 401, exc.url) from exc
        if response.status in (200, 202, 204, 404):
            return
        if response.status in (401, 403):
            code, detail = parse_error_body(response.body)
            answered = f"{response.status}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
            raise self._refused(repository, ref, answered, response.status, response.url)
        raise self._error(f"the gcr implementation cannot delete in {repository}", response, ref)

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        ref = _repository(repository)
        response = self._request("DELETE", ref, f"/v2/{ref.path}/manifests/{tag}", "delete")
        if response.status == 404:
            return Outcome.ALREADY_GONE
        if response.status not in (200, 202, 204):
            raise self._error(f"cannot delete tag {repository}:{tag}", response, ref)
        if not shared:
            self._delete_untagged(repository, ref, tag, digest)
        return Outcome.DELETED

    def _delete_untagged(self, repository: str, ref: Reference, tag: str, digest: str) -> None:
        """Delete the manifest ``tag`` named, now that the tag is gone; Google keeps it while
        another tag names it. The tag's delete already happened: a failure here leaves an
        untagged manifest (storage, not a tag), so it is logged, not raised."""
        if not DIGEST.fullmatch(digest or ""):
            return
        try:
            response = self._request("DELETE", ref, f"/v2/{ref.path}/manifests/{digest}", "delete")
        except RegistryError as exc:
            log.warning("%s:%s was deleted; its manifest %s could not be: %s", repository, tag, digest, exc.message)
            return
        if response.status in (200, 202, 204, 404) or _still_tagged(response):
            return
        error = self._error(f"cannot delete the manifest {repository}@{digest} of the deleted tag {tag}", response, ref)
        log.warning("%s:%s was deleted; its untagged manifest stays: %s", repository, tag, error.message)

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Tag → digest from Google's tags/list ``manifest`` object, page by page; None where the
        answer has no such object (not Google's listing) or cannot be had."""
        ref = _repository(repository)

        def read(document) -> dict[str, str] | None:
            manifests = document.get("manifest")
            if not isinstance(manifests, dict):
                return None
            found: dict[str, str] = {}
            for digest, info in manifests.items():
                tags = info.get("tag") if isinstance(info, dict) else None
                if not isinstance(digest, str) or not DIGEST.fullmatch(digest) or not isinstance(tags, list):
                    continue
                for tag in tags:
                    if isinstance(tag, str):
                        found[tag] = digest
            return found

        return link_paged_listing(
            lambda url: self._request("GET", ref, url, "pull"),
            f"/v2/{ref.path}/tags/list?{urllib.parse.urlencode({'n': self.page_size})}",
            read,
        )
        return None
