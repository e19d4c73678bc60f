"""``quay``: Quay (quay.io, Red Hat Quay) removes a tag through its API v1 on the registry's own
host, with an OAuth access token from ``STAGESWEEP_REPO_QUAY_TOKEN``.

From the Quay API reference (https://docs.quay.io/api/swagger/ and the Red Hat Quay API reference,
https://docs.redhat.com/en/documentation/red_hat_quay/3/html/red_hat_quay_api_reference/ :
``deleteFullTag``, ``listRepoTags``, ``getRepo``; OAuth scopes in https://docs.quay.io/api/):

* **Delete**: ``DELETE /api/v1/repository/<namespace>/<repository>/tag/<tag>`` with
  ``Authorization: Bearer <token>`` (scope ``repo:write``) → 204; 404 when the tag is unknown.
  Only the tag goes (into Quay's time machine, restorable there); the manifest stays while
  another tag names it.
* **The narrowest delete**: Quay has no conditional tag delete, so right before each delete the
  tag is read again (``GET …/tag/?specificTag=<tag>&onlyActiveTags=true``, its
  ``manifest_digest``): a tag pushed again since its check is not deleted (``TAG_MOVED``); what
  remains is the one round trip between that read's answer and the delete's arrival (measured by
  ``bench/vendor_delete_window.py``). Without the token the delete is the Registry API's by
  digest, which never takes a tag pushed again to another image: no window.
* **Pre-flight**: ``GET /api/v1/repository/<namespace>/<repository>`` → ``can_write`` (deleting
  tags needs write); 401/403 answer the Quay error body (``detail``, ``error_message``,
  ``error_type``, ``title``, ``status``).
* **Listing with digests**: ``GET /api/v1/repository/<ns>/<repo>/tag/?limit=100&page=N&onlyActiveTags=true``
  → ``{"tags": [{"name", "manifest_digest", …}], "page", "has_additional"}``.

With the token set every tag is deleted through the tag API, whether or not a staying tag shares
its digest — as werf's quay implementation did: one kind of delete per repository, each removing
exactly the tag it names (restorable from Quay's time machine), checked up front by one
``can_write``. Without the token the Registry API is used with the Docker config's credentials:
a manifest delete by digest for a tag no staying tag shares; a tag whose digest a staying tag
shares is then kept (``shared-digest``), since that delete would take the staying tag along.
"""

from __future__ import annotations

import json
import urllib.parse

from adapters.registry.client import _repository
from adapters.registry.vendors.base import MAX_PAGES, TagDeleter, listed_tag, tag_moved
from schemas.errors import RegistryAuthError, RegistryError
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

TOKEN_VARIABLE = "STAGESWEEP_REPO_QUAY_TOKEN"
PAGE_LIMIT = 100  # the API's maximum
_JSON = {"Accept": "application/json"}


class QuayDeleter(TagDeleter):
    implementation = RepoImplementation.QUAY

    def token(self) -> str | None:
        """The OAuth access token of ``STAGESWEEP_REPO_QUAY_TOKEN`` (None when unset)."""
        return (self.env.get(TOKEN_VARIABLE) or "").strip() or None

    def _url(self, repository: str, suffix: str = "") -> str:
        """A Quay API URL of ``repository`` — on the registry's own origin, the only place the
        token goes."""
        ref = _repository(repository)
        return self.client.transport.url(ref.registry, f"/api/v1/repository/{urllib.parse.quote(ref.path)}{suffix}")

    def _api(self, method: str, url: str, token: str):  # type: ignore[no-untyped-def]
        return self.api_request(method, url, authorization=f"Bearer {token}", headers=_JSON)

    def deletes_tag_alone(self, repository: str) -> bool:
        return self.token() is not None

    def preflight(self, repository: str) -> None:
        token = self.token()
        if token is None:
            try:
                self.client.check_delete_permitted(repository)
            except RegistryAuthError as exc:
                exc.message = (
                    f"{exc.message} — {TOKEN_VARIABLE} is not set, so the quay implementation deletes through the "
                    "Registry API with the Docker config's credentials"
                )
                exc.hint = self.permission_hint()
                raise
            return
        url = self._url(repository)
        what = f"cannot check deletes in {repository}"
        response = self._api("GET", url, token)
        if response.status in (401, 403):
            error = self.refused(what, response, detail_label="")
            error.message += f"; the token comes from {TOKEN_VARIABLE}"
            raise error
        path = _repository(repository).path
        unknown = f"{what}: Quay knows no repository {path} that the token of {TOKEN_VARIABLE} can see [{url}]"
        can_write = (self.repository_document(what, response, unknown, url=url) or {}).get("can_write")
        if can_write is not True:
            raise self.denied(
                f"{what}: the quay API says the token of {TOKEN_VARIABLE} may not write to {path} "
                f"(can_write: {json.dumps(can_write)}), and deleting tags needs {self.spec.permission} [{url}]",
                url=url,
            )

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        token = self.token()
        if token is None:
            if shared:
                raise RegistryError(
                    f"cannot delete {repository}:{tag} alone: a tag that stays shares its digest, and without "
                    f"{TOKEN_VARIABLE} the quay implementation deletes by digest",
                    hint=f"Set {TOKEN_VARIABLE} to an OAuth access token with {self.spec.permission}.",
                )
            return self.client.delete_manifest(repository, digest)
        query = urllib.parse.urlencode({"specificTag": tag, "onlyActiveTags": "true"})
        current = self._api("GET", self._url(repository, f"/tag/?{query}"), token)
        if current.status == 404:
            return Outcome.ALREADY_GONE
        if current.status != 200:
            raise self.fail(f"cannot read tag {repository}:{tag} before its delete", current)
        try:
            listed = [item for item in json.loads(current.body).get("tags") or [] if item.get("name") == tag]
        except (ValueError, AttributeError) as exc:
            raise RegistryError(
                f"cannot read tag {repository}:{tag} before its delete: the API sent a body that is not a tag list",
                url=current.url,
                retryable=True,
            ) from exc
        if not listed:
            return Outcome.ALREADY_GONE
        now = listed[0].get("manifest_digest")
        if isinstance(now, str) and now and digest and now != digest:
            raise tag_moved(repository, tag, digest, now, url=current.url)
        response = self._api("DELETE", self._url(repository, f"/tag/{urllib.parse.quote(tag, safe='')}"), token)
        return self.deleted_or_gone(f"cannot delete tag {repository}:{tag}", response)

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Tag → manifest digest from the Quay tag listing (active tags, 100 a page); None without
        the token or when the listing cannot be had."""
        token = self.token()
        if token is None:
            return None
        found: dict[str, str] = {}
        try:
            for page in range(1, MAX_PAGES + 1):
                query = urllib.parse.urlencode({"limit": PAGE_LIMIT, "page": page, "onlyActiveTags": "true"})
                response = self._api("GET", self._url(repository, f"/tag/?{query}"), token)
                if response.status != 200:
                    return None
                document = json.loads(response.body)
                for item in document.get("tags") or []:
                    if (listed := listed_tag(item, "manifest_digest")) is not None:
                        found.setdefault(*listed)
                if not document.get("has_additional"):
                    return found
        except (RegistryError, ValueError, AttributeError, TypeError):
            return None
        return None
