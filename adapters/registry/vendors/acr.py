"""``acr``: Azure Container Registry, through its data-plane REST API (``/acr/v1``) and the Registry
API, both on the registry's own host (``<name>.azurecr.io``) with one Bearer token.

From the Azure Container Registry data-plane REST API reference
(https://learn.microsoft.com/en-us/rest/api/containerregistry/ ), its token flow
(https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md ) and roles
(https://learn.microsoft.com/en-us/azure/container-registry/container-registry-rbac-built-in-roles-overview ):

* **Untag**: ``DELETE /acr/v1/{name}/_tags/{reference}`` → 202; only the tag goes, the manifest
  and its other tags stay. Used when a staying tag shares the digest.
* **Delete the manifest**: ``DELETE /v2/{name}/manifests/{digest}`` → 202; the manifest and every
  tag on it go and its storage is freed (what ``az acr repository delete --image`` does). Used
  otherwise.
* **Listing with digests**: ``GET /acr/v1/{name}/_tags?n=100&last=…`` → ``{"registry",
  "imageName", "tags": [{"name", "digest", "createdTime", "lastUpdateTime", "signed",
  "changeableAttributes"}]}``, paged by ``Link: <…>; rel="next"`` (scope ``metadata_read``).
* **Auth**: the registry's token flow — a ``401`` challenge ``Bearer realm="https://<host>/oauth2/token",
  service="<host>"``; the token comes with Basic credentials (an admin user, a repository-scoped
  token, a service principal) or, for an ``az acr login`` entry (an identity token), a refresh
  token grant (``POST /oauth2/token``, ``grant_type=refresh_token``). The same token carries
  ``repository:<name>:delete`` for ``/acr/v1`` and ``/v2``.
* **Errors**: ``{"errors": [{"code": "DENIED", "message": …}]}``; throttling is ``429`` with
  ``Retry-After``. Deleting needs ``content/delete`` (built-in role AcrDelete).
"""

from __future__ import annotations

import urllib.parse

from adapters.registry.client import _repository
from adapters.registry.errors import parse_error_body
from adapters.registry.reference import Reference
from adapters.registry.transport import Response
from adapters.registry.vendors.base import DIGEST, PROBE_DIGEST, TagDeleter, link_paged_listing, listed_tag, quote_path
from schemas.errors import RegistryAuthError
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

PAGE_SIZE = 100
_CREDENTIALS_HELP = (
    "Log in with `az acr login --name REGISTRY` (an identity token) or `docker login REGISTRY.azurecr.io` with a "
    "repository-scoped token or a service principal that has the AcrDelete role."
)


class AcrDeleter(TagDeleter):
    implementation = RepoImplementation.ACR
    #: tags asked for per page of the ``_tags`` listing (``n``)
    page_size = PAGE_SIZE

    def _request(self, method: str, ref: Reference, path: str, actions: str) -> Response:
        return self.client.transport.request(method, ref.registry, path, scope=f"repository:{ref.path}:{actions}")

    def permission_hint(self) -> str:
        return f"{super().permission_hint()} {_CREDENTIALS_HELP}"

    def _refused(self, repository: str, detail: str, status: int | None, url: str | None) -> RegistryAuthError:
        return self.denied(
            f"the acr implementation cannot delete in {repository}: the registry refused ({detail}) — deleting needs "
            f"{self.spec.permission}" + (f" [{url}]" if url else ""),
            status=status,
            url=url,
        )

    # -- the interface ------------------------------------------------------------------------
    def preflight(self, repository: str) -> None:
        """Delete a digest that cannot exist (404 or 202: the registry let the delete through)."""
        ref = _repository(repository)
        try:
            response = self._request("DELETE", ref, f"/v2/{ref.path}/manifests/{PROBE_DIGEST}", "delete")
        except RegistryAuthError as exc:
            raise self._refused(repository, exc.message, exc.status or 401, exc.url) from exc
        if response.status in (200, 202, 204, 404):
            return
        if response.status in (401, 403):
            code, detail = parse_error_body(response.body)
            answered = f"{response.status}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
            raise self._refused(repository, answered, response.status, response.url)
        raise self.fail(f"the acr implementation cannot delete in {repository}", response)

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        ref = _repository(repository)
        if shared:
            what = f"cannot untag {repository}:{tag}"
            path = f"/acr/v1/{ref.path}/_tags/{quote_path(tag)}"
        else:
            if not DIGEST.fullmatch(digest or ""):
                raise ValueError(f"expected a digest like sha256:<hex>, got {digest!r}")
            what = f"cannot delete manifest {repository}@{digest} (tag {tag})"
            path = f"/v2/{ref.path}/manifests/{digest}"
        return self.deleted_or_gone(what, self._request("DELETE", ref, path, "delete"))

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Tag → digest from ``GET /acr/v1/{name}/_tags``, page by page; None when the listing
        cannot be had (the tags are then looked up one by one)."""
        ref = _repository(repository)

        def read(document) -> dict[str, str]:
            found: dict[str, str] = {}
            for item in document.get("tags") or []:
                if (listed := listed_tag(item)) is not None:
                    found[listed[0]] = listed[1]
            return found

        return link_paged_listing(
            lambda url: self._request("GET", ref, url, "metadata_read"),
            f"/acr/v1/{ref.path}/_tags?{urllib.parse.urlencode({'n': self.page_size})}",
            read,
        )
        return None
