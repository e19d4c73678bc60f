"""Registry operations (OCI Distribution API v2) on top of the transport.

Repositories are addressed as ``HOST[:PORT]/PATH``. Every unexpected answer becomes a typed
error from ``schemas.errors`` carrying status, registry error code, URL and ``retryable``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

from adapters.concurrency import BulkRunner
from adapters.registry.errors import error_for_response, parse_error_body
from adapters.registry.manifest import (
    DOCKER_MANIFEST,
    MANIFEST_ACCEPT,
    Manifest,
    canonical_json,
    image_manifest,
    manifest_only_config,
    media_type_of,
    sha256_digest,
)
from adapters.registry.options import RegistryOptions
from adapters.registry.reference import Reference, parse_repository
from adapters.registry.transport import Response, Transport
from schemas.errors import RegistryError, SharedDigestError
from schemas.vocab import Outcome

T = TypeVar("T")
R = TypeVar("R")

_NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*(?:[^,]*;\s*)?rel="?next"?', re.IGNORECASE)
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")


@lru_cache(maxsize=1024)
def _repository(repo: str) -> Reference:
    return parse_repository(repo)


def _scope(ref: Reference, actions: str) -> str:
    return f"repository:{ref.path}:{actions}"


def _check_digest_form(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError(f"expected a digest like sha256:<hex>, got {digest!r}")
    return digest


def _verify(content: bytes, expected: str | None, what: str, url: str) -> str:
    actual = sha256_digest(content)
    if expected and expected.startswith("sha256:") and expected != actual:
        raise RegistryError(
            f"{what}: the content's digest is {actual}, the registry promised {expected} [{url}]",
            url=url,
            retryable=True,
            hint="The download was corrupted or the registry is inconsistent; retry the run.",
        )
    return actual


class RegistryClient:
    """Thread-safe registry client. Bulk work goes through ``map_concurrent`` (``parallel``
    worker threads, each with its own keep-alive connection)."""

    def __init__(self, options: RegistryOptions | None = None, deleter: Callable[[RegistryClient], Any] | None = None) -> None:
        """``deleter``: makes this registry implementation's tag deleter from the client (the
        caller chooses it: ``adapters.registry.vendors.registry_client``); made on first use."""
        self.options = options or RegistryOptions()
        self.transport = Transport(self.options)
        self._bulk = BulkRunner(self.options.parallel, thread_name_prefix="registry")
        self._make_deleter = deleter
        self._deleter: Any = None

    @property
    def deleter(self) -> Any:
        """How this registry implementation deletes a tag (handed in at construction)."""
        if self._deleter is None:
            if self._make_deleter is None:
                raise TypeError(
                    "this client was made without a tag deleter: build it with adapters.registry.vendors.registry_client"
                )
            self._deleter = self._make_deleter(self)
        return self._deleter

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._bulk.close()
        self.transport.close()

    # -- plumbing ----------------------------------------------------------------------------
    def _request(self, method: str, ref: Reference, path: str, actions: str, **kwargs: Any) -> Response:
        return self.transport.request(method, ref.registry, path, scope=_scope(ref, actions), **kwargs)

    def _fail(self, what: str, response: Response, *, wait: bool = True) -> RegistryError:
        """The typed error for an unexpected answer. A 429 with ``Retry-After`` is reported only
        once that wait has passed (capped by ``max_retry_after``), so the retry layer (Prefect)
        retries no earlier than the registry asked; the error still carries ``retry_after``.
        Deletions pass ``wait=False``: their batches wait for the longest hint themselves."""
        error = error_for_response(what, response.status, response.url, response.body, response.header("Retry-After"))
        retry_after = getattr(error, "retry_after", None)
        if wait and retry_after:
            time.sleep(min(retry_after, self.options.max_retry_after))
        return error

    # -- reads -------------------------------------------------------------------------------
    def list_tags(self, repo: str, *, page_size: int | None = None) -> list[str]:
        """All tags of ``repo``, following ``Link: <…>; rel="next"`` pages. A repository the
        registry does not know (404 NAME_UNKNOWN) has no tags. ``page_size`` is sent as ``n``."""
        ref = _repository(repo)
        path: str | None = f"/v2/{ref.path}/tags/list"
        if page_size:
            path += f"?n={int(page_size)}"
        tags: list[str] = []
        seen: set[str] = set()
        while path is not None:
            response = self._request("GET", ref, path, "pull")
            if response.status == 404 and not seen and parse_error_body(response.body)[0] == "NAME_UNKNOWN":
                return []
            if response.status != 200:
                raise self._fail(f"cannot list the tags of {repo}", response)
            seen.add(response.url)
            try:
                page = json.loads(response.body).get("tags") or []
            except (ValueError, AttributeError) as exc:
                raise RegistryError(
                    f"cannot list the tags of {repo}: the registry sent a body that is not a tag list [{response.url}]",
                    status=response.status,
                    url=response.url,
                    retryable=True,
                ) from exc
            tags.extend(page)
            path = None
            for header in response.headers.get_all("Link") or []:
                match = _NEXT_LINK.search(header)
                if match:
                    path = urllib.parse.urljoin(response.url, match.group(1))
            if path in seen:
                raise RegistryError(
                    f"cannot list the tags of {repo}: the registry's next-page link repeats {path}",
                    url=path,
                )
        return tags

    def head_manifest(self, repo: str, ref: str) -> str | None:
        """Digest of the manifest ``ref`` (tag or digest) points at, or None if there is none."""
        return self._head_manifest(repo, ref, wait=True)

    def _head_manifest(self, repo: str, ref: str, *, wait: bool) -> str | None:
        repository = _repository(repo)
        response = self._request(
            "HEAD",
            repository,
            f"/v2/{repository.path}/manifests/{ref}",
            "pull",
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if response.status == 404:
            return None
        if response.status != 200:
            raise self._fail(f"cannot look up manifest {repo}:{ref}", response, wait=wait)
        digest = response.header("Docker-Content-Digest")
        if digest:
            return digest
        return self.get_manifest(repo, ref).digest

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest ``ref`` (tag or digest) points at; NotFoundError if there is none."""
        repository = _repository(repo)
        what = f"cannot read manifest {repo}{'@' if ':' in ref else ':'}{ref}"
        response = self._request(
            "GET",
            repository,
            f"/v2/{repository.path}/manifests/{ref}",
            "pull",
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if response.status != 200:
            raise self._fail(what, response)
        expected = ref if ":" in ref else response.header("Docker-Content-Digest")
        digest = _verify(response.body, expected, what, response.url)
        try:
            parsed = json.loads(response.body)
            if not isinstance(parsed, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise RegistryError(f"{what}: the manifest is not valid JSON [{response.url}]", status=200, url=response.url) from exc
        media_type = media_type_of(response.header("Content-Type"), parsed)
        return Manifest(digest=digest, media_type=media_type, raw=response.body, parsed=parsed)

    def get_blob(self, repo: str, digest: str) -> bytes:
        """The blob ``digest`` (read whole into memory: meant for config blobs), verified."""
        repository = _repository(repo)
        _check_digest_form(digest)
        what = f"cannot read blob {repo}@{digest}"
        response = self._request("GET", repository, f"/v2/{repository.path}/blobs/{digest}", "pull")
        if response.status != 200:
            raise self._fail(what, response)
        _verify(response.body, digest, what, response.url)
        return response.body

    def get_config(self, repo: str, manifest: Manifest) -> dict[str, Any]:
        """The image config document of an image manifest."""
        if manifest.config_digest is None:
            raise RegistryError(f"manifest {repo}@{manifest.digest} ({manifest.media_type}) has no image config")
        blob = self.get_blob(repo, manifest.config_digest)
        try:
            return json.loads(blob)
        except ValueError as exc:
            raise RegistryError(f"the image config {repo}@{manifest.config_digest} is not valid JSON") from exc

    def blob_exists(self, repo: str, digest: str) -> bool:
        repository = _repository(repo)
        response = self._request("HEAD", repository, f"/v2/{repository.path}/blobs/{_check_digest_form(digest)}", "pull")
        if response.status == 404:
            return False
        if response.status != 200:
            raise self._fail(f"cannot look up blob {repo}@{digest}", response)
        return True

    # -- writes ------------------------------------------------------------------------------
    def push_blob(self, repo: str, data: bytes, *, check_exists: bool = True) -> str:
        """Upload ``data`` as a blob (monolithic POST + PUT) unless a HEAD finds it there (skip
        the HEAD with ``check_exists=False`` for data that is surely new); its digest."""
        repository = _repository(repo)
        digest = sha256_digest(data)
        if check_exists and self.blob_exists(repo, digest):
            return digest
        what = f"cannot upload blob {digest} to {repo}"
        started = self._request("POST", repository, f"/v2/{repository.path}/blobs/uploads/", "pull,push")
        location = started.header("Location")
        if started.status != 202 or not location:
            raise self._fail(what, started)
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(started.url, location))
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + [("digest", digest)]
        url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
        finished = self._request(
            "PUT",
            repository,
            url,
            "pull,push",
            headers={"Content-Type": "application/octet-stream"},
            body=data,
        )
        if finished.status not in (201, 204):
            raise self._fail(what, finished)
        return digest

    def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str) -> str:
        """Store manifest ``raw`` under ``ref`` (a tag or its digest); its digest."""
        repository = _repository(repo)
        response = self._request(
            "PUT",
            repository,
            f"/v2/{repository.path}/manifests/{ref}",
            "pull,push",
            headers={"Content-Type": media_type},
            body=raw,
        )
        if response.status not in (200, 201, 204):
            raise self._fail(f"cannot store manifest {repo}:{ref}", response)
        return sha256_digest(raw)

    def push_manifest_only_image(self, repo: str, tag: str, config: dict[str, Any]) -> tuple[str, str]:
        """Push an image without layers whose config is ``config`` (plus ``created`` = now and
        platform fields when missing) as ``repo:tag``: (manifest digest, config digest)."""
        blob = canonical_json(manifest_only_config(config))
        # A config with its own ``created`` is all but always new: upload without asking first.
        config_digest = self.push_blob(repo, blob, check_exists=False)
        raw = image_manifest(config_digest, len(blob))
        try:
            return self.put_manifest(repo, tag, raw, DOCKER_MANIFEST), config_digest
        except RegistryError as error:
            # A concurrent upload of the same blob can hide it for a moment; check and retry once.
            if error.code != "MANIFEST_BLOB_UNKNOWN":
                raise
            self.push_blob(repo, blob)
            return self.put_manifest(repo, tag, raw, DOCKER_MANIFEST), config_digest

    # -- deletes -----------------------------------------------------------------------------
    def delete_manifest(self, repo: str, digest: str) -> Outcome:
        """Delete the manifest ``digest`` — and with it every tag on it. ``deleted`` or
        ``already-gone``."""
        repository = _repository(repo)
        response = self._request("DELETE", repository, f"/v2/{repository.path}/manifests/{_check_digest_form(digest)}", "delete")
        if response.status in (200, 202, 204):
            return Outcome.DELETED
        if response.status == 404:
            return Outcome.ALREADY_GONE
        raise self._fail(f"cannot delete manifest {repo}@{digest}", response, wait=False)

    def check_delete_permitted(self, repo: str) -> None:
        """Prove that deletes are allowed in ``repo`` before the first real one: DELETE a digest
        that cannot exist. 404 (or 202) means deletes work; 405 means the registry has deletes
        disabled; 401/403 mean the credentials may not delete."""
        repository = _repository(repo)
        probe = "sha256:" + "0" * 64
        response = self._request("DELETE", repository, f"/v2/{repository.path}/manifests/{probe}", "delete")
        if response.status in (202, 404):
            return
        if response.status == 405:
            raise RegistryError(
                f"the registry {repository.registry} does not allow deletes in {repo} (405 {parse_error_body(response.body)[0] or 'UNSUPPORTED'})",
                status=405,
                code=parse_error_body(response.body)[0],
                url=response.url,
                retryable=False,
                hint="Nothing was deleted. A Distribution registry deletes with `storage.delete.enabled: true`; a "
                "vendor's registry (GitLab, Harbor, Quay, ACR, GCR, ECR, GHCR, Docker Hub) deletes through its own API: "
                "pass --repo-implementation NAME (see `stagesweep cleanup --help`).",
            )
        raise self._fail(f"the registry refuses deletes in {repo}", response)

    def delete_tag(
        self,
        repo: str,
        tag: str,
        expected_digest: str,
        tag_digests: dict[str, str],
        deleting: set[str] | frozenset[str],
    ) -> Outcome:
        """Delete ``repo:tag`` safely (SPEC §12.4); ``deleted`` or ``already-gone``.

        The tag is looked up again: gone ⇒ ``already-gone``; pointing elsewhere than
        ``expected_digest`` ⇒ RegistryError "tag moved". Registries delete by digest, which
        removes every tag on that manifest, so if any other tag of ``tag_digests`` (the
        repository's tag → digest map) that is not in ``deleting`` shares the digest, nothing is
        deleted and SharedDigestError names that tag.
        """
        _check_digest_form(expected_digest)
        repository = _repository(repo)
        url = self.transport.url(repository.registry, f"/v2/{repository.path}/manifests/{tag}")
        current = self._head_manifest(repo, tag, wait=False)
        if current is None:
            return Outcome.ALREADY_GONE
        if current != expected_digest:
            raise RegistryError(
                f"tag moved: {repo}:{tag} now points at {current}, not the planned {expected_digest}; it was not deleted",
                code="TAG_MOVED",
                url=url,
                hint="Someone pushed the tag since the plan was made; run the cleanup again to decide on the new image.",
            )
        siblings = sorted(
            other for other, digest in tag_digests.items() if digest == expected_digest and other != tag and other not in deleting
        )
        if siblings:
            raise SharedDigestError(
                f"not deleting {repo}:{tag}: its manifest {expected_digest} is also tagged "
                f"{', '.join(siblings)}, which must stay, and the registry can only delete by digest",
                url=url,
                hint="Nothing was deleted. Retag or remove the sibling tag(s) first if the image should go.",
            )
        return self.delete_manifest(repo, expected_digest)

    # -- bulk --------------------------------------------------------------------------------
    def map_concurrent(self, fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False) -> list[R | Exception]:
        """``[fn(item) for item in items]`` on ``parallel`` threads, results in item order; see
        ``BulkRunner.map``. Calls made from inside ``fn`` run inline."""
        return self._bulk.map(fn, items, return_exceptions=return_exceptions)
