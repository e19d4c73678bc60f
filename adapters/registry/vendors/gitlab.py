"""``gitlab``: the GitLab container registry (gitlab.com's ``registry.gitlab.com``, self-managed
``registry.gitlab.example.com`` or any registry whose ``GET /v2/`` answers with the
``Gitlab-Container-Registry-Version`` header, which GitLab's registry sends there).

Its credentials are the Registry API's own: a Bearer token for ``repository:<name>:delete`` from
GitLab's ``/jwt/auth`` realm, obtained with the Docker config's credentials for the registry host (a
token with the ``api`` scope of a Maintainer: GitLab's token-scope table gives ``write_registry`` push
only). Nothing goes to another host.

A tag is removed alone, by name, where the registry can:

* ``DELETE /v2/<name>/tags/reference/<tag>`` — GitLab's own tag delete (registry 2.8.0-gitlab to
  3.x; deprecated in GitLab 16.4 and removed with registry 4.0 / GitLab 17.0);
* ``DELETE /v2/<name>/manifests/<tag>`` — the OCI distribution-spec 1.1 tag delete GitLab's registry
  answers since GitLab 16.4 (and the only one from 17.0 on).

Which one works is found out once per repository (and process) by deleting a tag that cannot
exist: ``404`` with a registry error body means the route understood it; ``404`` without one (the
router's "404 page not found") or ``405`` means the route is absent; the OCI route of a registry
that cannot delete tags answers ``400 DIGEST_INVALID``. Where neither works (older or filesystem-
metadata registries), a tag goes with the Registry API's manifest delete by digest — which takes
every tag on it, so a tag whose digest a staying tag shares is kept (``shared-digest``).

Every tag with its digest comes from the registry's list-tags extension
``GET /gitlab/v1/repositories/<path>/tags/list/`` (metadata database only; marker paged with ``n`` /
``last`` and a ``Link`` header), so a warm read or a delete batch needs no HEAD per tag. That API
is only served where the metadata database is on, and may sit behind rules of its own: a 401, 403,
404 or 405 from it means "no listing here", and the tags are read one by one as on any registry.

References: https://docs.gitlab.com/user/packages/container_registry/ ,
https://docs.gitlab.com/security/tokens/access_token_scopes/ (``api`` is the scope that deletes),
https://gitlab.com/gitlab-org/container-registry/-/blob/master/docs/spec/gitlab/api.md .
"""

from __future__ import annotations

import json
import threading
import uuid

from adapters.registry.client import _repository
from adapters.registry.errors import parse_error_body
from adapters.registry.transport import Response
from adapters.registry.vendors.base import TagDeleter, next_page, quote_path
from schemas.errors import RegistryAuthError, RegistryError
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

#: the routes that remove one tag alone
TAGS_REFERENCE = "tags/reference"
MANIFESTS_TAG = "manifests/<tag>"

#: (registry URL, repository) → the route that deletes one tag there (None: none; by digest)
_routes: dict[tuple[str, str], str | None] = {}
_route_locks: dict[tuple[str, str], threading.Lock] = {}
#: registry URLs whose list-tags extension is unavailable (no metadata database, not GitLab)
_no_listing: set[str] = set()
_cache_lock = threading.Lock()

PROBE_PREFIX = "stagesweep-probe-"


def _has_registry_error(response: Response) -> bool:
    """Whether a 404 came from the registry's own handler (a JSON ``errors`` body), not from its
    router's "404 page not found" for a path it has no route for."""
    return parse_error_body(response.body)[0] is not None


class GitLabDeleter(TagDeleter):
    implementation = RepoImplementation.GITLAB
    #: tags per page of the list-tags extension (GitLab accepts 1–1000)
    page_size = 1000

    # -- which route deletes a tag -------------------------------------------------------------
    def _key(self, repository: str) -> tuple[str, str]:
        return (self.client.transport.url(_repository(repository).registry, "/"), repository)

    def tag_route(self, repository: str) -> str | None:
        """The route that removes one tag of ``repository`` alone, asked once per process."""
        key = self._key(repository)
        with _cache_lock:
            if key in _routes:
                return _routes[key]
            lock = _route_locks.setdefault(key, threading.Lock())
        with lock:  # one probe per repository, however many threads ask at once
            with _cache_lock:
                if key in _routes:
                    return _routes[key]
            found = self._probe(repository)
            with _cache_lock:
                _routes[key] = found
        return found

    def _probe(self, repository: str) -> str | None:
        """Delete a tag that cannot exist through each tag route; the first one the registry
        understood. 401/403 raise (``RegistryAuthError``)."""
        probe = f"{PROBE_PREFIX}{uuid.uuid4().hex[:16]}"
        response = self._delete_route(repository, TAGS_REFERENCE, probe)
        if response.status in (200, 202, 204) or (response.status == 404 and _has_registry_error(response)):
            return TAGS_REFERENCE
        if response.status in (401, 403):
            raise self.fail(f"the registry refuses deletes in {repository}", response)
        response = self._delete_route(repository, MANIFESTS_TAG, probe)
        if response.status in (401, 403):
            raise self.fail(f"the registry refuses deletes in {repository}", response)
        code = parse_error_body(response.body)[0]
        if response.status in (200, 202, 204) or (response.status == 404 and code not in (None, "NAME_UNKNOWN")):
            return MANIFESTS_TAG
        return None  # 404 page not found, 405, 400 DIGEST_INVALID / UNSUPPORTED: by digest only

    def _delete_route(self, repository: str, route: str, tag: str) -> Response:
        ref = _repository(repository)
        where = "tags/reference" if route == TAGS_REFERENCE else "manifests"
        return self.client.transport.request(
            "DELETE",
            ref.registry,
            f"/v2/{ref.path}/{where}/{quote_path(tag)}",
            scope=f"repository:{ref.path}:delete",
        )

    def deletes_tag_alone(self, repository: str) -> bool:
        return self.tag_route(repository) is not None

    # -- pre-flight ----------------------------------------------------------------------------
    def preflight(self, repository: str) -> None:
        """Delete a tag that cannot exist (each tag route in turn; then a digest that cannot
        exist where the registry deletes by digest only): 404 means deletes are allowed."""
        try:
            found = self._probe(repository)
        except RegistryAuthError as exc:
            raise self._refusal(repository, exc) from exc
        with _cache_lock:
            _routes[self._key(repository)] = found
        if found is None:
            try:
                self.client.check_delete_permitted(repository)
            except RegistryAuthError as exc:
                raise self._refusal(repository, exc) from exc

    def _refusal(self, repository: str, exc: RegistryAuthError) -> RegistryAuthError:
        spec = self.spec
        return self.denied(
            f"{repository}: the {spec.name} registry refused a delete ({exc.status or 401}"
            f"{' ' + exc.code if exc.code else ''}) — deleting needs {spec.permission}: {exc.message}",
            status=exc.status,
            code=exc.code,
            url=exc.url,
        )

    # -- deletes -------------------------------------------------------------------------------
    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        for _ in range(2):  # a route that vanished (registry upgraded mid-run) is probed again
            route = self.tag_route(repository)
            if route is None:
                break
            response = self._delete_route(repository, route, tag)
            if response.status in (200, 202, 204):
                return Outcome.DELETED
            code = parse_error_body(response.body)[0]
            if response.status == 404 and code is not None:
                return Outcome.ALREADY_GONE  # the tag is unknown (MANIFEST_UNKNOWN, NAME_UNKNOWN)
            if response.status in (404, 405) or (response.status == 400 and code in ("DIGEST_INVALID", "UNSUPPORTED")):
                with _cache_lock:
                    _routes.pop(self._key(repository), None)
                continue
            raise self.fail(f"cannot delete tag {repository}:{tag}", response)
        if shared:
            raise RegistryError(
                f"{self.implementation} cannot delete {repository}:{tag} alone: the registry deletes by digest "
                f"only and a tag that stays shares {digest}; it was not deleted",
                hint="A GitLab registry without tag deletes removes a manifest with all its tags. Nothing was deleted.",
            )
        return self.client.delete_manifest(repository, digest)

    # -- listing -------------------------------------------------------------------------------
    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Tag → digest from ``GET /gitlab/v1/repositories/<path>/tags/list/`` (every page); None
        where the registry has no such listing for these credentials (no metadata database, not
        GitLab's registry, or the API refused: 401/403/404/405) — the tags are then read one by one."""
        ref = _repository(repository)
        base = self.client.transport.url(ref.registry, "/")
        with _cache_lock:
            if base in _no_listing:
                return None
        scope = f"repository:{ref.path}:pull"
        url: str | None = f"/gitlab/v1/repositories/{ref.path}/tags/list/?n={int(self.page_size)}"
        found: dict[str, str] = {}
        seen: set[str] = set()
        while url is not None:
            try:
                response = self.client.transport.request("GET", ref.registry, url, scope=scope)
            except RegistryAuthError:
                return None  # a 401 the token flow could not answer: read tag by tag
            if response.status == 404 and parse_error_body(response.body)[0] == "NAME_UNKNOWN" and not seen:
                return {}  # no such repository: no tags
            if response.status in (404, 405) and not seen:
                with _cache_lock:
                    _no_listing.add(base)
                return None
            if response.status in (401, 403, 404, 405):
                return None
            if response.status != 200:
                raise self.fail(f"cannot list the tags of {repository}", response)
            seen.add(response.url)
            found.update(_page(response, repository))
            url = next_page(response, seen, f"cannot list the tags of {repository}")
        return found


def _page(response: Response, repository: str) -> dict[str, str]:
    try:
        document = json.loads(response.body)
        return {str(item["name"]): str(item["digest"]) for item in document if item.get("digest")}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RegistryError(
            f"cannot list the tags of {repository}: the registry sent a body that is not a tag list [{response.url}]",
            status=response.status,
            url=response.url,
            retryable=True,
        ) from exc


def forget_routes() -> None:
    """Forget what was learnt about every registry (tests)."""
    with _cache_lock:
        _routes.clear()
        _no_listing.clear()


__all__ = ["GitLabDeleter", "forget_routes"]
