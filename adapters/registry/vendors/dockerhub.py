"""``dockerhub``: Docker Hub, through the routes its published references document, and the one
tag delete they do not document.

* **Log in** (Docker Hub API reference, https://docs.docker.com/reference/api/hub/latest/ ,
  "Create access token"): ``POST /v2/auth/token`` with ``{"identifier": <user>, "secret":
  <password or personal access token>}`` → ``{"access_token": …}``, a bearer token valid for 10
  minutes (the older ``POST /v2/users/login`` is marked deprecated there and not used). The
  credentials are the Docker config's for the repository's registry host (for Docker Hub, the
  ``https://index.docker.io/v1/`` entry ``docker login`` writes).
* **What a token may delete** (access token reference,
  https://docs.docker.com/security/access-tokens/reference/ ): a personal access token has one
  permission — Repo Public Read-only, Repo Read-only, Repo Read & Write, or Repo Read, Write,
  Delete (scope ``repo:admin``); only the last deletes. The registry's token service grants the
  ``delete`` action of ``repository:<name>:delete`` to such a token alone (Registry API
  reference, https://docs.docker.com/reference/api/registry/latest/ , "Delete image manifest":
  "This operation requires `delete` access to the repository").
* **Pre-flight**: log in (401: the credentials are wrong); ``GET
  /v2/namespaces/<namespace>/repositories/<repository>`` ("Get repository"; 404: unknown to these
  credentials); then the Registry API's manifest delete of a digest that cannot exist on the
  registry host (``DELETE /v2/<name>/manifests/sha256:000…``): 404 means the token holds the
  ``delete`` action; 401/403 that it does not — the refusal names the Read, Write, Delete
  permission. Nothing is deleted.
* **Delete**: the Hub API reference documents tag reads (``GET``/``HEAD
  /v2/namespaces/<ns>/repositories/<repo>/tags/<tag>``) but no tag delete, and the Registry API
  reference deletes only untagged manifests (403 while a tag references one; 405 by tag). The
  tag is therefore removed with ``DELETE /v2/repositories/<namespace>/<repository>/tags/<tag>/``,
  the route of Docker's own ``hub-tool`` (linked from the Hub API reference's Resources) → 204; 404
  when the tag is gone. Only that tag goes: the image stays while another tag names it, so the
  shared-digest rule does not apply.
* **The narrowest delete**: Docker Hub has no conditional tag delete, so right before each delete
  the tag is read again through the documented ``GET …/tags/<tag>`` (its ``digest``) on the same
  kept-alive connection: a tag pushed again since its check is not deleted (``TAG_MOVED``), and
  what remains is the one round trip between that read's answer and the delete's arrival (measured
  by ``bench/vendor_delete_window.py``).
* **Listing with digests** (warm reads, the staying tags of a batch): ``GET
  /v2/namespaces/<namespace>/repositories/<repository>/tags?page_size=100`` ("List repository
  tags"; at most 100 a page) following ``next`` only on the API's own origin; each result carries
  the tag's ``digest``.
* **Rate limits**: 429 with ``Retry-After`` (seconds) and/or ``X-RateLimit-Reset`` (epoch
  seconds); older answers sent ``X-Retry-After`` (epoch seconds), which is honoured too.

The API base is ``https://hub.docker.com``, or ``STAGESWEEP_DOCKERHUB_API_URL`` (tests, a proxy).
The Docker config's credentials go to that base only, and to the default base only for a
repository on a Docker Hub host: a repository elsewhere needs the variable set to its API.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Mapping

from adapters.registry.auth import Credential
from adapters.registry.reference import DOCKER_HUB, Reference
from adapters.registry.transport import Response, origin
from adapters.registry.vendors.base import TagDeleter, listed_tag, namespace_and_name, tag_moved
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

API_URL_VARIABLE = "STAGESWEEP_DOCKERHUB_API_URL"
DEFAULT_API_URL = "https://hub.docker.com"
#: an access token of ``POST /v2/auth/token`` lives 10 minutes; renew a minute early
TOKEN_LIFETIME = 600.0
TOKEN_MARGIN = 60.0
PAGE_SIZE = 100  # the reference's maximum
_JSON = {"Accept": "application/json"}


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class DockerHubDeleter(TagDeleter):
    implementation = RepoImplementation.DOCKERHUB

    def __init__(self, client, env: Mapping[str, str] | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(client, env)
        #: (API base, user) → (access token, monotonic expiry)
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._login_lock = threading.Lock()

    # -- where, and as whom ---------------------------------------------------------------
    def api_base(self) -> str:
        """The Docker Hub API base URL (``STAGESWEEP_DOCKERHUB_API_URL`` or hub.docker.com)."""
        configured = (self.env.get(API_URL_VARIABLE) or "").strip().rstrip("/")
        if not configured:
            return DEFAULT_API_URL
        parts = urllib.parse.urlsplit(configured)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc or parts.query or parts.fragment:
            raise RegistryError(
                f"{API_URL_VARIABLE} is not an http(s) URL of a Docker Hub API (scheme, host and optional port and path)",
                hint=f"Set {API_URL_VARIABLE} to e.g. {DEFAULT_API_URL}, or unset it to use Docker Hub.",
            )
        return configured

    def _names(self, repository: str) -> tuple[Reference, str, str]:
        """(reference, namespace, repository name) of ``repository``: the first path component
        and the rest (``docker.io/library/x`` → ``library``, ``x``)."""
        return namespace_and_name(
            repository,
            f"{repository} names no Docker Hub namespace and repository (NAMESPACE/REPOSITORY)",
            "Address Docker Hub repositories as docker.io/NAMESPACE/REPOSITORY.",
        )

    def _credential(self, ref: Reference) -> Credential:
        """The Docker config's user and password (or personal access token) for the repository's
        host — refused before anything is sent when they would go to a host they do not belong to."""
        hub_hosts = {host for host in self.spec.hosts if "*" not in host}
        if not (self.env.get(API_URL_VARIABLE) or "").strip() and ref.registry.lower() not in hub_hosts:
            raise RegistryError(
                f"the dockerhub implementation deletes through the Docker Hub API ({DEFAULT_API_URL}), and "
                f"{ref.repository} is not on Docker Hub: its registry credentials are not sent there",
                hint=f"Pass --repo-implementation default (or auto) for {ref.registry}, or set {API_URL_VARIABLE} "
                "to the Docker Hub API that serves this registry. Nothing was deleted.",
            )
        store = self.client.transport.auth.credentials
        credential = store.lookup(ref.registry)
        if credential is None and ref.registry.lower() in hub_hosts and ref.registry != DOCKER_HUB:
            credential = store.lookup(DOCKER_HUB)
        if credential is None or not credential.username or not credential.password:
            login = "docker login" if ref.registry.lower() in hub_hosts else f"docker login {ref.registry}"
            what = "no credentials" if credential is None else "no username and password (an identity token only)"
            raise RegistryAuthError(
                f"the Docker config ({store.config_file}) has {what} for {ref.registry}: the Docker Hub API "
                f"needs a user and a password or personal access token to delete tags in {ref.repository}",
                status=401,
                url=ref.registry,
                hint=f"Run `{login}` with a personal access token with the {self.spec.permission}, or point "
                "--docker-config / DOCKER_CONFIG at the directory that holds one. " + self.permission_hint(),
            )
        return credential

    # -- the API ------------------------------------------------------------------------------
    def _token(self, ref: Reference, *, stale: str | None = None) -> str:
        """A bearer token for the Docker Hub API: cached until shortly before it expires; ``stale``
        (refused with 401) is replaced unless another thread already did."""
        base = self.api_base()
        credential = self._credential(ref)
        key = (base, str(credential.username))
        with self._login_lock:  # one login however many threads need a token at once
            cached = self._tokens.get(key)
            if cached and cached[0] != stale and cached[1] > time.monotonic():
                return cached[0]
            url = f"{base}/v2/auth/token"
            body = json.dumps({"identifier": credential.username, "secret": credential.password}).encode()
            response = self.api_request("POST", url, headers={**_JSON, "Content-Type": "application/json"}, body=body)
            if response.status in (401, 403):
                raise RegistryAuthError(
                    f"the Docker Hub API refused the credentials of {credential.username} from the Docker config "
                    f"({self.client.transport.auth.credentials.config_file}) for {ref.registry} ({response.status}) [{url}]",
                    status=response.status,
                    url=url,
                    hint=f"Run `docker login` again with a personal access token with the {self.spec.permission}. "
                    + self.permission_hint(),
                )
            if response.status != 200:
                raise self.fail(f"cannot log in to the Docker Hub API as {credential.username}", response)
            try:
                document = json.loads(response.body)
                token = document.get("access_token") or document.get("token")
            except (ValueError, AttributeError):
                token = None
            if not isinstance(token, str) or not token:
                raise RegistryError(
                    f"the Docker Hub API answered a login without an access token [{url}]", url=url, retryable=True
                )
            self._tokens[key] = (token, time.monotonic() + TOKEN_LIFETIME - TOKEN_MARGIN)
            return token

    def _hub(self, method: str, ref: Reference, target: str) -> Response:
        """One Docker Hub API request (``target``: a path under the API base, or a URL on its
        origin) with the bearer token; a token refused with 401 (expired) is renewed once."""
        url = target if "://" in target else self.api_base() + target
        token = self._token(ref)
        response = self.api_request(method, url, authorization=f"Bearer {token}", headers=_JSON)
        if response.status == 401:
            token = self._token(ref, stale=token)
            response = self.api_request(method, url, authorization=f"Bearer {token}", headers=_JSON)
        return response

    def fail(self, what: str, response: Response, *, message: str | None = None) -> RegistryError:
        error = super().fail(what, response, message=message)
        if isinstance(error, RegistryRateLimited) and error.retry_after is None:
            legacy = (response.header("X-Retry-After") or "").strip()
            if legacy.isdigit():  # documented as a unix time; small values are taken as seconds
                value = int(legacy)
                error.retry_after = float(max(0, value - int(time.time()))) if value > 10**9 else float(value)
        return error

    # -- TagDeleter ---------------------------------------------------------------------------
    def preflight(self, repository: str) -> None:
        ref, namespace, name = self._names(repository)
        what = f"cannot check deletes in {repository}"
        response = self._hub("GET", ref, f"/v2/namespaces/{_segment(namespace)}/repositories/{name}")
        if response.status in (401, 403):
            raise self.refused(what, response)
        self.repository_document(
            what, response, f"{what}: Docker Hub knows no repository {namespace}/{name} that this user can see [{response.url}]"
        )
        try:  # the registry's manifest delete of a digest no image has: 404 with the delete action
            self.client.check_delete_permitted(repository)
        except RegistryAuthError as exc:
            raise self.denied(
                f"{what}: Docker Hub's registry refused the delete action on {namespace}/{name} ({exc.status or 401}"
                f"{' ' + exc.code if exc.code else ''}) — deleting needs {self.spec.permission} [{exc.url}]",
                status=exc.status,
                code=exc.code,
                url=exc.url,
            ) from exc

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        """Read the tag again (documented ``GET …/tags/<tag>``), then delete it only where it still
        names ``digest``: the window left is one round trip."""
        ref, namespace, name = self._names(repository)
        tag_path = f"/v2/namespaces/{_segment(namespace)}/repositories/{name}/tags/{_segment(tag)}"
        current = self._hub("GET", ref, tag_path)
        if current.status == 404:
            return Outcome.ALREADY_GONE
        if current.status != 200:
            raise self.fail(f"cannot read tag {repository}:{tag} before its delete", current)
        try:
            now = json.loads(current.body).get("digest")
        except (ValueError, AttributeError):
            now = None
        if isinstance(now, str) and now and digest and now != digest:
            raise tag_moved(repository, tag, digest, now, url=current.url)
        response = self._hub("DELETE", ref, f"/v2/repositories/{_segment(namespace)}/{name}/tags/{_segment(tag)}/")
        return self.deleted_or_gone(f"cannot delete tag {repository}:{tag}", response)

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Tag → digest from the Docker Hub tag listing (100 a page). A ``next`` page on another
        origin is not followed (the tags it would list are looked up one by one instead); None
        when the listing cannot be had."""
        try:
            ref, namespace, name = self._names(repository)
            base = self.api_base()
            url: str | None = f"{base}/v2/namespaces/{_segment(namespace)}/repositories/{name}/tags?page_size={PAGE_SIZE}"
            found: dict[str, str] = {}
            seen: set[str] = set()
            while url is not None and url not in seen:
                seen.add(url)
                response = self._hub("GET", ref, url)
                if response.status != 200:
                    return None
                document = json.loads(response.body)
                for item in document.get("results") or []:
                    if (listed := listed_tag(item)) is not None:
                        found[listed[0]] = listed[1]
                following = document.get("next")
                url = urllib.parse.urljoin(url, following) if isinstance(following, str) and following else None
                if url is not None and origin(url) != origin(base):
                    break  # never send the token elsewhere
            return found
        except (RegistryError, ValueError, AttributeError, TypeError):
            return None
