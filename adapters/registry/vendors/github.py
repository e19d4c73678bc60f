"""``github``: the GitHub Container registry (ghcr.io; GitHub Enterprise Server's
``containers.HOST``) through the GitHub REST API's Packages endpoints.

The registry itself does not delete manifests; a package version does. For
``ghcr.io/<owner>/<path>`` the package is ``<path>`` (``/`` encoded as ``%2F``) of package type
``container``, of the user or organisation ``<owner>``; for the older Docker registry
``docker.pkg.github.com/<owner>/<repository>/<image>`` it is ``<image>`` of package type ``docker``
(a registry with repository-scoped permissions: the token needs ``repo`` too). Each version is one
manifest digest (its ``name``) carrying every tag on that digest (``metadata.container.tags``).
Deleting a tag is deleting the version whose name is the tag's digest — every tag on it goes — so
a tag whose digest a staying tag shares is kept (``shared-digest``, applied by the registry backend).

* Owner: ``GET /users/<owner>`` tells a user from an organisation (``type``). An organisation's
  packages are under ``/orgs/<org>/packages/…``; the caller's own under ``/user/packages/…``
  (``GET /user`` names the token's user). GitHub lets a token delete no other user's packages
  (``/users/<user>/…`` lists another user's public packages): such a repository, or a token that
  cannot name its user (an Actions ``GITHUB_TOKEN``: "Resource not accessible by integration"),
  is refused before anything is deleted, saying which token would do. Asked once per owner,
  token and API base in a process.
* Versions: ``GET …/packages/container/<package>/versions?per_page=100`` following ``Link``
  ``rel="next"`` (only within the API base); digest → version id is cached per repository,
  re-listed once per batch when a digest is missing (a push since) or a cached id answers 404.
* Delete: ``DELETE …/versions/<id>`` → 204; 404 → ``already-gone``. GitHub refuses (400) to
  delete a package's last tagged version ("You must delete the package instead"): the delete
  then empties the package of tags, so the package itself is deleted (``DELETE
  …/packages/<type>/<package>``, which takes its untagged versions too). Where GitHub refuses that
  as well (a public package with a version downloaded more than 5,000 times, a token without
  admin on it), the item fails, not retryable, quoting both refusals.

References: https://docs.github.com/en/rest/packages/packages (API version 2022-11-28: the
``/user``, ``/orgs/{org}`` and ``/users/{username}`` package endpoints, their scopes and the
last-version rule), https://docs.github.com/en/packages/learn-github-packages/about-permissions-for-github-packages
(``read:packages``, ``delete:packages``; ``repo`` for repository-scoped registries) and
https://docs.github.com/en/packages/learn-github-packages/deleting-and-restoring-a-package .
* Token: ``GITHUB_TOKEN``, else ``GH_TOKEN``, else the Docker config's password for the
  registry host — the latter only for a GitHub host (ghcr.io, docker.pkg.github.com) or with
  ``GITHUB_API_URL`` set, so a password for another registry never goes to api.github.com. It is
  sent as ``Authorization: Bearer`` to the API base only (``GITHUB_API_URL``, else
  https://api.github.com).
* Rate limits: 403/429 with ``x-ratelimit-remaining: 0`` (wait until ``x-ratelimit-reset``) or
  with ``retry-after`` or a "secondary rate limit" message (at least a minute, as GitHub asks)
  are retryable ``RegistryRateLimited`` errors, not refusals.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adapters.registry.client import _repository
from adapters.registry.transport import Response, origin
from adapters.registry.vendors.base import (
    NEXT_LINK,
    TagDeleter,
    TagToDelete,
    _reset_header,
    namespace_and_name,
    quote_path,
    vendor_message,
)
from schemas.errors import NotFoundError, RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import RepoImplementation, detect
from schemas.vocab import Outcome

if TYPE_CHECKING:
    from adapters.registry.client import RegistryClient

DEFAULT_API = "https://api.github.com"
API_VERSION = "2022-11-28"
PERMISSION = "delete:packages"
#: the older Docker registry of GitHub Packages: package type ``docker``, repository-scoped permissions
DOCKER_PKG_HOST = "docker.pkg.github.com"
PAGE_SIZE = 100
#: GitHub's advice for a secondary rate limit without a retry-after header
SECONDARY_WAIT = 60.0

#: (API base, owner, token digest) → the package path prefix ("user" or "orgs/<org>"); asked once per process
_owner_kinds: dict[tuple[str, str, str], str] = {}
_owner_kinds_lock = threading.Lock()


@dataclass
class _Package:
    """A repository as a GitHub container package."""

    repository: str
    host: str
    owner: str
    name: str
    #: the REST API's package type: ``container`` (ghcr.io), ``docker`` (docker.pkg.github.com)
    type: str = "container"

    @property
    def scopes(self) -> tuple[str, ...]:
        """The classic-token scopes a delete needs."""
        return (PERMISSION, "repo") if self.type == "docker" else (PERMISSION,)


@dataclass
class _Batch:
    """One ``delete_tags`` call: the version listing is refreshed at most once in it."""

    refreshed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Versions:
    ids: dict[str, int]  # digest → version id
    tags: dict[str, str]  # tag → digest
    #: digests whose version this process deleted since the listing
    deleted: set[str] = field(default_factory=set)


class GitHubDeleter(TagDeleter):
    implementation = RepoImplementation.GITHUB

    def __init__(self, client: RegistryClient, env: Mapping[str, str] | None = None) -> None:
        super().__init__(client, env)
        self._versions: dict[str, _Versions] = {}

    # -- where and with what -------------------------------------------------------------
    @property
    def api_base(self) -> str:
        return (self.env.get("GITHUB_API_URL") or "").strip().rstrip("/") or DEFAULT_API

    def _package(self, repository: str) -> _Package:
        ref, owner, name = namespace_and_name(
            repository,
            f"{repository}: a GitHub container repository is HOST/OWNER/PACKAGE; "
            f"{_repository(repository).path!r} names no package",
            "Point the storage at ghcr.io/<owner>/<package>, e.g. ghcr.io/acme/app.",
        )
        if ref.registry.lower().rsplit(":", 1)[0] == DOCKER_PKG_HOST:
            # docker.pkg.github.com/<owner>/<repository>/<image>: the package is the image
            _, _, image = name.partition("/")
            if not image:
                raise RegistryError(
                    f"{repository}: a docker.pkg.github.com repository is HOST/OWNER/REPOSITORY/IMAGE",
                    hint="Point the storage at docker.pkg.github.com/<owner>/<repository>/<image>.",
                )
            return _Package(repository, ref.registry, owner, image, "docker")
        return _Package(repository, ref.registry, owner, name)

    def _token(self, host: str) -> tuple[str | None, str]:
        """(the API token, where it came from)."""
        for variable in ("GITHUB_TOKEN", "GH_TOKEN"):
            value = (self.env.get(variable) or "").strip()
            if value:
                return value, variable
        if detect(host) == RepoImplementation.GITHUB or (self.env.get("GITHUB_API_URL") or "").strip():
            credential = self.client.transport.auth.credentials.lookup(host)
            if credential is not None and credential.password:
                return credential.password, f"the Docker config's password for {host}"
        return None, ""

    def _authorization(self, package: _Package) -> str:
        token, _ = self._token(package.host)
        if token is None:
            raise self._no_token(package)
        return f"Bearer {token}"

    def _no_token(self, package: _Package) -> RegistryAuthError:
        name = self.spec.name
        return RegistryAuthError(
            f"{package.repository}: the {name} implementation deletes through the GitHub API ({self.api_base}) and has "
            f"no token for it — deleting needs a token with {PERMISSION}",
            status=401,
            url=self.api_base,
            hint=f"Set GITHUB_TOKEN or GH_TOKEN to a personal access token (classic) with read:packages and "
            f"{PERMISSION}, or `docker login {package.host}` with one (the Docker config; --docker-config / "
            "DOCKER_CONFIG; used for ghcr.io, docker.pkg.github.com, or any host once GITHUB_API_URL is set). "
            "Nothing was deleted.",
        )

    def _url(self, prefix: str, package: _Package, suffix: str = "") -> str:
        """``<API>/<prefix>/packages/<type>/<package><suffix>``; ``prefix``: ``user`` or ``orgs/<org>``."""
        return f"{self.api_base}/{prefix}/packages/{package.type}/{quote_path(package.name)}{suffix}"

    def _get(self, url: str, authorization: str) -> Response:
        return self.api_request("GET", url, authorization=authorization, headers=_HEADERS)

    # -- errors ------------------------------------------------------------------------------
    def _error(self, what: str, response: Response, *, wait: bool = False) -> RegistryError:
        """The typed error of an API answer; a rate limit (403 or 429) is retryable. ``wait``:
        sleep the hinted time first (capped), as reads of the client do."""
        limited = _rate_limit_wait(response)
        if limited is None:
            return self.fail(what, response)
        if wait and limited:
            time.sleep(min(limited, self.client.options.max_retry_after))
        detail = vendor_message(response.body)
        return RegistryRateLimited(
            f"{what}: the GitHub API rate limit was hit ({response.status}"
            + (f" {detail}" if detail else "")
            + f") [{response.url}]",
            retry_after=limited,
            status=response.status,
            url=response.url,
            hint="GitHub limits API requests per token and hour (and bursts); the delete is retried after the reset. "
            "Lower --parallel-tasks-limit if this recurs.",
        )

    def _refused(self, repository: str, response: Response) -> RegistryAuthError:
        error = self.refused(repository, response, detail_label="GitHub: ")
        source = self._token(self._package(repository).host)[1]
        if source:
            error.message = f"{error.message} (the token from {source})"
        return error

    # -- owner and versions ------------------------------------------------------------------
    def _owner_kind(self, package: _Package, authorization: str) -> str:
        """The path prefix of the package's endpoints: ``orgs/<org>`` for an organisation's,
        ``user`` for the token's own user's; another user's packages are refused."""
        key = (self.api_base, package.owner, hashlib.sha256(authorization.encode()).hexdigest())
        with _owner_kinds_lock:
            known = _owner_kinds.get(key)
        if known is not None:
            return known
        response = self._get(f"{self.api_base}/users/{quote_path(package.owner)}", authorization)
        if response.status == 404:
            raise NotFoundError(
                f"{package.repository}: GitHub has no user or organisation {package.owner!r} [{response.url}]",
                status=404,
                url=response.url,
                hint="Check the repository's owner (ghcr.io/<owner>/<package>) and GITHUB_API_URL.",
            )
        if response.status in (401, 403) and _rate_limit_wait(response) is None:
            raise self._refused(package.repository, response)
        if response.status != 200:
            raise self._error(f"cannot look up the GitHub owner {package.owner}", response, wait=True)
        owner_type = self._json_field(response, "type", f"cannot look up the GitHub owner {package.owner}")
        if owner_type == "Organization":
            prefix = f"orgs/{quote_path(package.owner)}"
        else:
            login = self._token_user(package, authorization)
            if login.lower() != package.owner.lower():
                raise self.denied(
                    f"{package.repository}: the package belongs to the GitHub user {package.owner}, and the token "
                    f"from {self._token(package.host)[1]} is {login}'s — GitHub lets a token delete only its own "
                    f"user's packages (/user/packages) or an organisation's (/orgs/<org>/packages); nothing was deleted",
                    url=response.url,
                )
            prefix = "user"
        with _owner_kinds_lock:
            _owner_kinds[key] = prefix
        return prefix

    def _token_user(self, package: _Package, authorization: str) -> str:
        """The login of the token's user (``GET /user``); a token that has none (an Actions or app
        installation token) is refused for a user's packages, saying which token would do."""
        response = self._get(f"{self.api_base}/user", authorization)
        if response.status == 200:
            return str(self._json_field(response, "login", "cannot read the token's GitHub user"))
        if response.status in (401, 403) and _rate_limit_wait(response) is None:
            detail = vendor_message(response.body) or f"{response.status}"
            raise self.denied(
                f"{package.repository}: the package belongs to the GitHub user {package.owner}, whose packages are "
                f"deleted through /user/packages with a token of that user; the token from "
                f"{self._token(package.host)[1]} has no user (GitHub: {detail}) [{response.url}]",
                status=response.status,
                url=response.url,
            )
        raise self._error("cannot read the token's GitHub user", response, wait=True)

    def _json_field(self, response: Response, key: str, what: str) -> object:
        try:
            return json.loads(response.body).get(key)
        except (ValueError, AttributeError) as exc:
            raise RegistryError(
                f"{what}: the API sent a body that is not the expected object [{response.url}]", url=response.url, retryable=True
            ) from exc

    def _list(self, package: _Package) -> _Versions:
        """Every version of the package (following ``Link`` pages within the API base); cached."""
        authorization = self._authorization(package)
        kind = self._owner_kind(package, authorization)
        url: str | None = self._url(kind, package, f"/versions?per_page={PAGE_SIZE}")
        api_origin = origin(self.api_base + "/")
        ids: dict[str, int] = {}
        tags: dict[str, str] = {}
        seen: set[str] = set()
        while url is not None:
            response = self._get(url, authorization)
            if response.status == 404 and not seen:
                break  # no such package (yet): no versions
            if response.status != 200:
                raise self._error(f"cannot list the package versions of {package.repository}", response, wait=True)
            seen.add(url)
            try:
                page = json.loads(response.body)
                for version in page:
                    digest = str(version["name"])
                    ids[digest] = int(version["id"])
                    for tag in ((version.get("metadata") or {}).get("container") or {}).get("tags") or []:
                        tags[str(tag)] = digest
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise RegistryError(
                    f"cannot list the package versions of {package.repository}: the API sent a body that is not "
                    f"a version list [{response.url}]",
                    url=response.url,
                    retryable=True,
                ) from exc
            url = _next_link(response)
            if url is not None and origin(url) != api_origin:
                raise RegistryError(
                    f"cannot list the package versions of {package.repository}: the next page is on another host "
                    f"({urllib.parse.urlsplit(url).netloc}) than the GitHub API; the token is not sent there",
                    url=url,
                    hint="Check GITHUB_API_URL.",
                )
            if url in seen:
                raise RegistryError(f"cannot list the package versions of {package.repository}: the next-page link repeats {url}")
        versions = _Versions(ids, tags)
        with self._lock:
            self._versions[package.repository] = versions
        return versions

    def _cached(self, repository: str) -> _Versions | None:
        with self._lock:
            return self._versions.get(repository)

    def _refresh(self, package: _Package, batch: _Batch) -> _Versions:
        """The listing, re-read unless this batch re-read it already."""
        with batch.lock:
            if not batch.refreshed:
                batch.refreshed = True
                return self._list(package)
        return self._cached(package.repository) or self._list(package)

    # -- the interface -----------------------------------------------------------------------
    def preflight(self, repository: str) -> None:
        package = self._package(repository)
        authorization = self._authorization(package)
        kind = self._owner_kind(package, authorization)
        response = self._get(self._url(kind, package, "/versions?per_page=1"), authorization)
        if response.status in (401, 403, 404) and _rate_limit_wait(response) is None:
            raise self._refused(repository, response)
        if response.status != 200:
            raise self._error(f"cannot list the package versions of {repository}", response, wait=True)
        scopes = response.header("X-OAuth-Scopes")
        missing = [s for s in package.scopes if s not in {g.strip() for g in (scopes or "").split(",")}]
        if scopes is not None and missing:
            raise self.denied(
                f"{repository}: the token for the {self.spec.name} implementation has the scopes "
                f"[{scopes.strip() or 'none'}] — deleting {package.type} packages needs {', '.join(package.scopes)}; "
                f"missing: {', '.join(missing)} [{response.url}]",
                url=response.url,
            )

    def delete_tags(self, repository: str, items: Sequence[TagToDelete]) -> list[Outcome | RegistryError]:
        """One version delete per digest (its other tags go with it: ``already-gone``), on the
        client's threads; the version listing is read again at most once in the batch."""
        batch = _Batch()
        items = list(items)
        first: dict[str, TagToDelete] = {}
        for item in items:
            first.setdefault(item[1], item)

        def one(item: TagToDelete) -> Outcome | RegistryError:
            try:
                return self._delete(repository, *item, batch=batch)
            except RegistryAuthError:
                raise
            except RegistryError as exc:
                return exc

        outcomes = self.client.map_concurrent(one, list(first.values()))
        done: dict[str, Outcome | Exception] = dict(zip(first, outcomes, strict=True))
        results: list[Outcome | RegistryError] = []
        for item in items:
            outcome = done[item[1]]
            if first[item[1]] is not item and not isinstance(outcome, Exception):
                outcome = Outcome.ALREADY_GONE  # went with the first tag of its digest
            results.append(outcome)  # type: ignore[arg-type]
        return results

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        return self._delete(repository, tag, digest, shared, batch=_Batch())

    def _delete(self, repository: str, tag: str, digest: str, shared: bool, *, batch: _Batch) -> Outcome:
        if shared:  # the version holds the staying tag too (the backend keeps such tags)
            raise RegistryError(f"github cannot delete {repository}:{tag} alone: its digest is shared")
        package = self._package(repository)
        versions = self._cached(repository)
        fresh = False
        if versions is not None and digest in versions.deleted and digest not in versions.ids:
            return Outcome.ALREADY_GONE  # deleted with another tag of the same digest
        if versions is None or digest not in versions.ids:
            versions, fresh = self._refresh(package, batch), True
        version_id = versions.ids.get(digest)
        if version_id is None:
            return Outcome.ALREADY_GONE
        authorization = self._authorization(package)
        kind = self._owner_kind(package, authorization)
        while True:
            response = self.api_request(
                "DELETE", self._url(kind, package, f"/versions/{version_id}"), authorization=authorization, headers=_HEADERS
            )
            if response.status in (200, 202, 204):
                with self._lock:
                    versions.ids.pop(digest, None)
                    versions.deleted.add(digest)
                return Outcome.DELETED
            if response.status == 404:
                if fresh:
                    return Outcome.ALREADY_GONE
                # the cached id may be stale (the digest pushed again since): look once more
                versions, fresh = self._refresh(package, batch), True
                again = versions.ids.get(digest)
                if again is None or again == version_id:
                    return Outcome.ALREADY_GONE
                version_id = again
                continue
            if response.status == 400 and _last_tagged_version(response):
                return self._delete_package(package, kind, authorization, versions, tag, digest, response)
            raise self._error(f"cannot delete package version {version_id} ({repository}:{tag}, {digest})", response)

    def _delete_package(
        self,
        package: _Package,
        prefix: str,
        authorization: str,
        versions: _Versions,
        tag: str,
        digest: str,
        refusal: Response,
    ) -> Outcome:
        """GitHub keeps a package's last tagged version: the delete of ``tag`` empties the package
        of tags, so the package goes (its untagged versions with it)."""
        response = self.api_request("DELETE", self._url(prefix, package), authorization=authorization, headers=_HEADERS)
        if response.status in (200, 202, 204, 404):
            with self._lock:
                versions.deleted.update(versions.ids)
                versions.ids.clear()
            return Outcome.DELETED if response.status != 404 else Outcome.ALREADY_GONE
        if _rate_limit_wait(response) is not None:
            raise self._error(f"cannot delete the package {package.name} of {package.owner}", response)
        error = self.fail(f"cannot delete {package.repository}:{tag} ({digest})", response)
        error.message = (
            f"cannot delete {package.repository}:{tag} ({digest}): it is the package's last tagged version, which "
            f"GitHub does not delete alone (GitHub: {vendor_message(refusal.body)}), and GitHub refused to delete the "
            f"package {package.name} ({response.status}: {vendor_message(response.body) or 'no message'}) "
            f"[{response.url}]; it was not deleted"
        )
        error.retryable = False
        error.hint = (
            "GitHub does not delete a public package with a version downloaded more than 5,000 times, and deletes a "
            "package only for a token with admin on it; delete the package on GitHub (Package settings → Delete this "
            "package) if it should go."
        )
        raise error

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Tag → digest from the package's version listing; None when it cannot be read (no token,
        no access, a rate limit): then every tag is looked up on the registry instead."""
        try:
            package = self._package(repository)
            if self._token(package.host)[0] is None:
                return None
            return dict(self._list(package).tags)
        except RegistryError:
            return None


_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}


def _next_link(response: Response) -> str | None:
    for header in response.headers.get_all("Link") or []:
        match = NEXT_LINK.search(header)
        if match:
            return urllib.parse.urljoin(response.url, match.group(1))
    return None


def _last_tagged_version(response: Response) -> bool:
    """Whether a 400 is GitHub's refusal to delete a package's last tagged version."""
    message = (vendor_message(response.body) or "").lower()
    return "last tagged version" in message or ("last" in message and "delete the package" in message)


def _rate_limit_wait(response: Response) -> float | None:
    """Seconds to wait when ``response`` is a GitHub rate limit (403 or 429), else None."""
    if response.status not in (403, 429):
        return None
    retry_after = response.header("Retry-After")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after.strip())
    if (response.header("X-RateLimit-Remaining") or "").strip() == "0":
        reset = _reset_header(response)
        return float(reset) if reset is not None else SECONDARY_WAIT
    message = (vendor_message(response.body) or "").lower()
    if response.status == 429 or "rate limit" in message:
        return SECONDARY_WAIT
    return None


def forget_owner_kinds() -> None:
    """Forget whether each owner is a user or an organisation."""
    with _owner_kinds_lock:
        _owner_kinds.clear()
