"""How one registry implementation deletes one tag, proves it may, and (optionally) lists each
tag's digest in bulk.

:class:`TagDeleter` is the interface the registry backend (``adapters/storage/registry_store.py``)
calls; it does everything else a delete needs — the re-check of the tag right before its delete
(``tag-moved``), the shared-digest rule, audit rows, retries — the same way for every
implementation. A deleter only says how the vendor removes ``repository:tag``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from adapters.registry.client import _repository
from adapters.registry.errors import error_for_response, parse_error_body, parse_retry_after
from schemas.errors import NotFoundError, RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import IMPLEMENTATIONS, Implementation, RepoImplementation
from schemas.vocab import Outcome

if TYPE_CHECKING:
    from adapters.registry.client import RegistryClient
    from adapters.registry.reference import Reference
    from adapters.registry.transport import Response

#: one delete of a batch: (tag, digest it was found at right before, whether a staying tag shares that digest)
TagToDelete = tuple[str, str, bool]

#: the target of a ``Link: <…>; rel="next"`` header
NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*(?:[^,]*;\s*)?rel="?next"?', re.IGNORECASE)
#: pages a listing follows at the most
MAX_PAGES = 100_000
#: a digest no image has: a pre-flight deletes it to learn whether deletes are permitted
PROBE_DIGEST = "sha256:" + "0" * 64
#: a well-formed digest (``algorithm:hex``)
DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")


class TagDeleter:
    """Deletes tags of one implementation through ``client`` (its transport, credentials and
    request slots). ``env``: where tokens and API bases are read (``os.environ`` by default)."""

    implementation: RepoImplementation = RepoImplementation.DEFAULT
    #: the deleter gives the registry's own reads their credentials (ECR: a token from the AWS API),
    #: so the client makes it before its first request
    provides_registry_credentials = False

    def __init__(self, client: RegistryClient, env: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.env = os.environ if env is None else env
        self._lock = threading.Lock()

    @property
    def spec(self) -> Implementation:
        return IMPLEMENTATIONS[self.implementation]

    def deletes_tag_alone(self, repository: str) -> bool:
        """False when deleting one tag of ``repository`` removes every tag on its digest: then a
        tag that shares its digest with a tag that stays is kept (``shared-digest``)."""
        return not self.spec.deletes_by_digest

    # -- what an implementation provides ----------------------------------------------------
    def preflight(self, repository: str) -> None:
        """Raise (``RegistryAuthError`` / ``RegistryError`` with a hint naming the permission and
        the variable or option that sets the credentials) unless deletes in ``repository`` can
        work; never deletes anything."""
        try:
            self.client.check_delete_permitted(repository)
        except RegistryAuthError as exc:
            exc.hint = self.permission_hint()
            raise

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        """Remove ``repository:tag``, found at ``digest`` right before; ``shared``: a tag that
        stays points at ``digest`` too (it must stay). ``deleted`` or ``already-gone``; raise a
        ``RegistryError`` (``retryable`` where a retry can help) when the registry refuses."""
        if shared:
            raise RegistryError(f"{self.implementation} cannot delete {repository}:{tag} alone: its digest is shared")
        return self.client.delete_manifest(repository, digest)

    def delete_tags(self, repository: str, items: Sequence[TagToDelete]) -> list[Outcome | RegistryError]:
        """Delete several tags; results in order. One request per tag, on the client's threads,
        unless an implementation has a bulk call."""

        def one(item: TagToDelete) -> Outcome | RegistryError:
            try:
                return self.delete_tag(repository, *item)
            except RegistryAuthError:
                raise
            except RegistryError as exc:
                return exc

        return self.client.map_concurrent(one, list(items))  # type: ignore[return-value]

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Every tag of ``repository`` with its manifest digest, from a vendor listing that has
        them (one request per page, not one per tag); None where the vendor has none."""
        return None

    # -- helpers for implementations --------------------------------------------------------
    def api_request(
        self,
        method: str,
        url: str,
        *,
        authorization: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """One request to a vendor API (absolute ``url``) carrying ``authorization`` — which the
        caller has checked belongs to that API's host. Goes through the client's transport
        (connections, TLS options, request slots); network failures are retryable errors."""
        sent = dict(headers or {})
        if authorization:
            sent["Authorization"] = authorization
        return self.client.transport.send(method, url, sent, body)

    def fail(self, what: str, response: Response, *, message: str | None = None) -> RegistryError:
        """The typed error of a vendor API answer (429 keeps ``Retry-After`` / rate-limit reset)."""
        retry_after = response.header("Retry-After") or _reset_header(response)
        error = error_for_response(what, response.status, response.url, response.body, retry_after)
        detail = message or vendor_message(response.body)
        if detail and detail not in error.message:
            error.message = f"{error.message} — {detail}"
        if isinstance(error, RegistryAuthError):
            error.hint = self.permission_hint()
        return error

    def permission_hint(self) -> str:
        spec = self.spec
        return (
            f"Deleting with the {spec.name} implementation needs {spec.permission}; its credentials come from "
            f"{spec.credentials}. Nothing was deleted."
        )

    def denied(self, message: str, *, url: str | None, status: int | None = 403, code: str | None = None) -> RegistryAuthError:
        """The credentials may not delete (a pre-flight's finding, or a refused delete): ``message``
        with the hint naming the permission and where the credentials come from."""
        return RegistryAuthError(message, status=status, code=code, url=url, hint=self.permission_hint())

    def refused(self, storage_what: str, response: Response, *, detail_label: str | None = None) -> RegistryAuthError:
        """A 401/403 of a pre-flight: one message naming the implementation and the permission;
        with ``detail_label`` (``""``, ``"GitHub: "``) the vendor's own message follows, so labelled."""
        spec = self.spec
        error = self.denied(
            f"{storage_what}: the {spec.name} API refused ({response.status}) — deleting needs {spec.permission} "
            f"[{response.url}]",
            status=response.status,
            url=response.url,
        )
        detail = vendor_message(response.body) if detail_label is not None else None
        if detail:
            error.message = f"{error.message} — {detail_label}{detail}"
        return error

    def repository_document(
        self, what: str, response: Response, unknown: str, *, url: str | None = None
    ) -> dict[str, Any] | None:
        """The JSON object a pre-flight read about the repository (None where the body is none):
        404 raises ``NotFoundError(unknown)`` — the credentials may not see the repository — and any
        other status but 200 the typed error of ``what``. ``url``: the one messages name
        (``response.url`` by default)."""
        if response.status == 404:
            raise NotFoundError(unknown, status=404, url=response.url if url is None else url, hint=self.permission_hint())
        if response.status != 200:
            raise self.fail(what, response)
        try:
            document = json.loads(response.body)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def deleted_or_gone(self, what: str, response: Response) -> Outcome:
        """The outcome of a vendor's delete answer: 200/202/204 ``deleted``, 404 ``already-gone``;
        anything else raises the typed error of ``what``."""
        if response.status in (200, 202, 204):
            return Outcome.DELETED
        if response.status == 404:
            return Outcome.ALREADY_GONE
        raise self.fail(what, response)


#: the code of :func:`tag_moved` errors (ECR's ``ImageTagDoesNotMatchDigest`` too)
TAG_MOVED = "TAG_MOVED"


def tag_moved(repository: str, tag: str, expected: str, current: str, *, url: str | None = None) -> RegistryError:
    """The error of a delete that found, right before it, ``tag`` naming ``current`` instead of
    the ``expected`` digest it was checked at: nothing was deleted; not retryable (the next run
    decides on the new image)."""
    return RegistryError(
        f"{repository}:{tag} was pushed again since its re-check ({expected} → {current}); it was not deleted",
        code=TAG_MOVED,
        url=url,
        retryable=False,
        hint="Run the cleanup again to decide on the new image.",
    )


def vendor_message(body: bytes) -> str | None:
    """The human message of a vendor's JSON error body (GitHub ``message``, Docker Hub
    ``message``/``detail``, Quay ``error_message``/``detail``, Harbor/Distribution ``errors``)."""
    try:
        document = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    for key in ("message", "error_message", "detail", "errinfo"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
    errors = document.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        value = errors[0].get("message")
        return str(value) if value else None
    return None


def _reset_header(response: Response) -> str | None:
    """Seconds until a rate-limit window resets (``X-RateLimit-Reset``: epoch seconds) as a
    ``Retry-After`` value, where the vendor sends that instead."""
    import time

    reset = response.header("X-RateLimit-Reset") or response.header("x-ratelimit-reset")
    if not reset or not reset.strip().isdigit():
        return None
    return str(max(0, int(reset.strip()) - int(time.time())))


def listed_tag(item: Any, digest_key: str = "digest") -> tuple[str, str] | None:
    """(tag, digest) of one entry of a vendor's tag listing (its ``name`` and ``digest_key``);
    None where either is missing or the digest is malformed (the tag is then looked up alone)."""
    tag, digest = item.get("name"), item.get(digest_key)
    if isinstance(tag, str) and isinstance(digest, str) and DIGEST.fullmatch(digest):
        return tag, digest
    return None


def next_page(response: Response, seen: set[str], what: str) -> str | None:
    """The page the ``Link: <…>; rel="next"`` of ``response`` names (relative to its URL);
    None on the last page. A link to a page already ``seen`` raises (``what``: "cannot list …")."""
    url = next_link(response)
    if url is not None and url in seen:
        raise RegistryError(f"{what}: the next-page link repeats {url}", url=url)
    return url


def next_link(response: Response) -> str | None:
    """The target of the last ``Link: <…>; rel="next"`` header of ``response``, made absolute."""
    url = None
    for header in response.headers.get_all("Link") or []:
        match = NEXT_LINK.search(header)
        if match:
            url = urllib.parse.urljoin(response.url, match.group(1))
    return url


def link_paged_listing(
    fetch: Callable[[str], Response], url: str, read: Callable[[Any], Mapping[str, str] | None]
) -> dict[str, str] | None:
    """Tag → digest over every page of a Registry-API-style listing starting at ``url``: ``fetch``
    answers a page's (relative or absolute) URL, ``read`` takes its JSON document to the page's
    tag → digest (None: not the listing expected); the next page is the last ``Link: <…>;
    rel="next"`` header's. ``{}`` when the first page says NAME_UNKNOWN; None when the listing
    cannot be had (another status, a page seen before, a body that is not the listing, a
    ``RegistryError``, more than ``MAX_PAGES`` pages)."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    next_url: str | None = url
    try:
        for _ in range(MAX_PAGES):
            if next_url is None:
                return found
            response = fetch(next_url)
            if response.status == 404 and not seen and parse_error_body(response.body)[0] == "NAME_UNKNOWN":
                return {}
            if response.status != 200:
                return None
            seen.add(response.url)
            page = read(json.loads(response.body))
            if page is None:
                return None
            found.update(page)
            next_url = next_link(response)
            if next_url in seen:
                return None
    except (RegistryError, ValueError, AttributeError, TypeError):
        return None
    return None


def namespace_and_name(repository: str, problem: str, hint: str) -> tuple[Reference, str, str]:
    """(reference, first path component, the rest) of ``HOST/FIRST/REST…``, for a vendor API that
    names a repository by its namespace (owner, project) and name; a path of one component raises
    ``RegistryError(problem, hint=hint)``."""
    ref = _repository(repository)
    namespace, _, name = ref.path.partition("/")
    if not name:
        raise RegistryError(problem, hint=hint)
    return ref, namespace, name


def quote_path(value: str) -> str:
    """A path segment (slashes encoded)."""
    return urllib.parse.quote(value, safe="")


__all__ = [
    "DIGEST",
    "MAX_PAGES",
    "NEXT_LINK",
    "PROBE_DIGEST",
    "TAG_MOVED",
    "RegistryRateLimited",
    "TagDeleter",
    "TagToDelete",
    "link_paged_listing",
    "listed_tag",
    "namespace_and_name",
    "next_link",
    "next_page",
    "parse_retry_after",
    "quote_path",
    "tag_moved",
    "vendor_message",
]
