"""``harbor``: a Harbor registry, deleting through the Harbor API v2.0 on the registry's own host.

A repository ``HOST/<project>/<repository…>`` is Harbor's project ``<project>`` and repository
``<repository…>`` (in API paths URL-encoded twice where it has a ``/``: ``a/b`` → ``a%252Fb``).

* A tag whose digest a staying tag shares goes alone:
  ``DELETE /api/v2.0/projects/<p>/repositories/<r>/artifacts/<digest>/tags/<tag>`` (permission
  ``tag`` ``delete``).
* Any other tag goes with its artifact:
  ``DELETE /api/v2.0/projects/<p>/repositories/<r>/artifacts/<digest>`` (``artifact`` ``delete``),
  which also frees the artifact for Harbor's garbage collection. The Harbor API's delete is used
  rather than the Registry API's manifest delete (which Harbor routes to the same artifact
  delete): one credential path for every delete (Basic, to the API), one set of permissions the
  pre-flight can read back from Harbor, and Harbor's own error bodies.

Credentials: the Docker config's username and password (or robot account / CLI secret) for the
registry host, sent as Basic only to that host.

Pre-flight: ``GET /api/v2.0/projects/<p>`` (its ``project_id``), then
``GET /api/v2.0/users/current/permissions?scope=/project/<id>&relative=true`` must list
``artifact``/``delete`` and ``tag``/``delete``. Where the project may not be read (a robot account
without project read), both deletes are tried on an artifact that cannot exist
(``sha256:000…``): ``404`` means allowed, ``401``/``403`` refused.

Listing: ``GET …/artifacts?with_tag=true&page=N&page_size=100`` (``Link`` paging) gives every
tag with its artifact's digest.

Detection: Harbor runs under any host name, so ``auto`` finds it by its anonymous ``GET
/api/v2.0/systeminfo`` (:func:`adapters.registry.vendors.probe_implementation`).

References: Harbor's API v2.0 swagger (https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml ),
permissions by role (https://goharbor.io/docs/main/administration/managing-users/user-permissions-by-role/ )
and robot accounts (https://goharbor.io/docs/main/working-with-projects/project-configuration/create-robot-accounts/ ).
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping

from adapters.registry.client import _repository
from adapters.registry.transport import Response, origin
from adapters.registry.vendors.base import PROBE_DIGEST, TagDeleter, namespace_and_name, next_page, quote_path
from schemas.errors import RegistryError
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

API = "/api/v2.0"
PROBE_TAG = "stagesweep-probe"
#: what a delete needs, as Harbor's RBAC names it: (resource, action)
NEEDED = (("artifact", "delete"), ("tag", "delete"))


def harbor_names(repository: str) -> tuple[str, str, str]:
    """(registry host, project, repository name in the project) of ``HOST/<project>/<name…>``."""
    ref, project, name = namespace_and_name(
        repository,
        f"{repository} is not a Harbor repository address: it needs HOST/<project>/<repository>",
        "Harbor keeps every repository in a project; address it as HOST/PROJECT/NAME. Nothing was deleted.",
    )
    return ref.registry, project, name


def repository_segment(name: str) -> str:
    """A repository name as a path segment of the Harbor API (encoded twice: ``a/b`` → ``a%252Fb``)."""
    return quote_path(quote_path(name))


class HarborDeleter(TagDeleter):
    implementation = RepoImplementation.HARBOR
    #: artifacts per page of the listing (Harbor accepts up to 100)
    page_size = 100

    # -- requests to the Harbor API ------------------------------------------------------------
    def _authorization(self, host: str, repository: str) -> str:
        credential = self.client.transport.auth.credentials.lookup(host)
        if credential is None or credential.password is None or credential.username is None:
            spec = self.spec
            raise self.denied(
                f"{repository}: the {spec.name} API needs a username and password (or robot account) for {host}, "
                f"and the Docker config has none — deleting needs {spec.permission}",
                status=401,
                url=self.client.transport.url(host, API),
            )
        raw = f"{credential.username}:{credential.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _call(self, method: str, repository: str, path: str, headers: Mapping[str, str] | None = None) -> Response:
        """``method`` the Harbor API ``path`` (under ``/api/v2.0``) on the host of ``repository``,
        with that host's credentials: the only host they are sent to."""
        host = _repository(repository).registry
        url = path if "://" in path else self.client.transport.url(host, API + path)
        if origin(url) != origin(self.client.transport.url(host, "/")):
            raise RegistryError(
                f"{repository}: the harbor API pointed at {url}, another host than the registry's; "
                "its credentials are not sent there",
                url=url,
            )
        return self.api_request(
            method,
            url,
            authorization=self._authorization(host, repository),
            headers={"Accept": "application/json", **(headers or {})},
        )

    def _repository_path(self, repository: str) -> str:
        _, project, name = harbor_names(repository)
        return f"/projects/{quote_path(project)}/repositories/{repository_segment(name)}"

    def _artifact_path(self, repository: str, reference: str) -> str:
        return f"{self._repository_path(repository)}/artifacts/{reference}"

    # -- pre-flight ----------------------------------------------------------------------------
    def preflight(self, repository: str) -> None:
        _, project, _ = harbor_names(repository)
        what = f"{repository}: deleting through the harbor API"
        response = self._call("GET", repository, f"/projects/{quote_path(project)}", {"X-Is-Resource-Name": "true"})
        if response.status == 401:
            raise self.refused(what, response)
        if response.status == 404:
            raise RegistryError(
                f"{repository}: the harbor API knows no project {project} [{response.url}]",
                status=404,
                url=response.url,
                hint="The first path segment of a Harbor repository is its project; check the address. Nothing was deleted.",
            )
        if response.status == 403:  # may not read the project (a robot account): try the deletes
            self._probe_deletes(repository, what)
            return
        if response.status != 200:
            raise self.fail(f"{what}: cannot read project {project}", response)
        try:
            project_id = int(json.loads(response.body)["project_id"])
        except (ValueError, TypeError, KeyError) as exc:
            raise RegistryError(
                f"{what}: the project {project} came without a project_id [{response.url}]", url=response.url
            ) from exc
        query = urllib.parse.urlencode({"scope": f"/project/{project_id}", "relative": "true"})
        response = self._call("GET", repository, f"/users/current/permissions?{query}")
        if response.status in (401, 403):
            raise self.refused(what, response)
        if response.status != 200:
            raise self.fail(f"{what}: cannot read the permissions in project {project}", response)
        try:
            granted = {(str(p.get("resource")), str(p.get("action"))) for p in json.loads(response.body) or []}
        except (ValueError, TypeError, AttributeError) as exc:
            raise RegistryError(f"{what}: the permission list is not JSON [{response.url}]", url=response.url) from exc
        missing = [f"{resource} {action}" for resource, action in NEEDED if not _granted(granted, resource, action)]
        if missing:
            spec = self.spec
            raise self.denied(
                f"{what}: the credentials lack {', '.join(missing)} in project {project} — deleting needs "
                f"{spec.permission} [{response.url}]",
                url=response.url,
            )

    def _probe_deletes(self, repository: str, what: str) -> None:
        """Both deletes on an artifact that cannot exist: 404 means they are allowed."""
        for path in (
            self._artifact_path(repository, PROBE_DIGEST),
            self._artifact_path(repository, PROBE_DIGEST) + f"/tags/{PROBE_TAG}",
        ):
            response = self._call("DELETE", repository, path)
            if response.status in (401, 403):
                raise self.refused(what, response)
            if response.status not in (200, 404):
                raise self.fail(what, response)

    # -- deletes -------------------------------------------------------------------------------
    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        path = self._artifact_path(repository, digest)
        if shared:  # a staying tag is on this artifact: remove the tag alone
            path += f"/tags/{quote_path(tag)}"
        response = self._call("DELETE", repository, path)
        return self.deleted_or_gone(f"cannot delete {'tag' if shared else 'the artifact of'} {repository}:{tag}", response)

    # -- listing -------------------------------------------------------------------------------
    def listed_digests(self, repository: str) -> dict[str, str] | None:
        """Tag → artifact digest from the artifact listing (every page); None where the Harbor
        API does not list this repository (404, or the credentials may not list artifacts)."""
        query = urllib.parse.urlencode({"with_tag": "true", "page": 1, "page_size": int(self.page_size)})
        url: str | None = f"{self._repository_path(repository)}/artifacts?{query}"
        found: dict[str, str] = {}
        seen: set[str] = set()
        while url is not None:
            response = self._call("GET", repository, url)
            if response.status in (403, 404) and not seen:
                return None  # HEADs will tell, one per tag
            if response.status != 200:
                raise self.fail(f"cannot list the artifacts of {repository}", response)
            seen.add(response.url)
            try:
                for artifact in json.loads(response.body) or []:
                    for tag in artifact.get("tags") or []:
                        found[str(tag["name"])] = str(artifact["digest"])
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise RegistryError(
                    f"cannot list the artifacts of {repository}: the harbor API sent a body that is not an artifact "
                    f"list [{response.url}]",
                    status=response.status,
                    url=response.url,
                    retryable=True,
                ) from exc
            url = next_page(response, seen, f"cannot list the artifacts of {repository}")
        return found


def _granted(granted: set[tuple[str, str]], resource: str, action: str) -> bool:
    return any(r in (resource, "*") and a in (action, "*") for r, a in granted)


__all__ = ["HarborDeleter", "harbor_names", "repository_segment"]
