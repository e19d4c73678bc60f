"""Registry implementations as data: name → hosts it is detected from → how one tag is deleted
→ which credentials it needs (werf v1.1's ``--repo-implementation`` values).

This table is the one place these facts live: the CLI's choices, detection from a host, the
pre-flight messages and the README's "Registries" table all read it. How each deletion is done on
the wire lives in ``adapters/registry/vendors/``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from enum import StrEnum


class RepoImplementation(StrEnum):
    AUTO = "auto"
    DEFAULT = "default"
    DOCKERHUB = "dockerhub"
    GITHUB = "github"
    GITLAB = "gitlab"
    HARBOR = "harbor"
    QUAY = "quay"
    ECR = "ecr"
    ACR = "acr"
    GCR = "gcr"


@dataclass(frozen=True)
class Implementation:
    name: RepoImplementation
    #: host patterns (fnmatch, lower case) this implementation is detected from
    hosts: tuple[str, ...]
    #: how one tag is deleted (for people: README, --help)
    deletes: str
    #: where its credentials come from (for people), and the variable or option that sets them
    credentials: str
    #: the permission a delete needs, as the vendor names it
    permission: str
    #: True when deleting a tag removes every tag on its digest (the shared-digest rule applies)
    deletes_by_digest: bool
    #: the hosts other than the registry's own that the implementation sends credentials to
    api_hosts: tuple[str, ...] = ()


_DOCKER_CONFIG = "the Docker config (`docker login HOST`; --docker-config / DOCKER_CONFIG)"

IMPLEMENTATIONS: dict[RepoImplementation, Implementation] = {
    impl.name: impl
    for impl in (
        Implementation(
            RepoImplementation.DEFAULT,
            (),
            "Registry API: `DELETE /v2/<name>/manifests/<digest>`; where the registry deletes tags "
            "(distribution-spec 1.1: `DELETE /v2/<name>/manifests/<tag>`), that, so only the tag goes",
            _DOCKER_CONFIG,
            "the delete action on the repository (token scope repository:<name>:delete)",
            deletes_by_digest=True,
        ),
        Implementation(
            RepoImplementation.DOCKERHUB,
            ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"),
            "Docker Hub: the tag read again (`GET /v2/namespaces/<ns>/repositories/<repo>/tags/<tag>`), then "
            "`DELETE /v2/repositories/<ns>/<repo>/tags/<tag>/` on hub.docker.com (after `POST /v2/auth/token`), only "
            "that tag and only while it names the digest it was checked at",
            "the Docker config's user and personal access token for docker.io (`docker login`); API base "
            "STAGESWEEP_DOCKERHUB_API_URL",
            "a personal access token with the Repo Read, Write, Delete permission (scope repo:admin; "
            "docs.docker.com/security/access-tokens/reference)",
            deletes_by_digest=False,
            api_hosts=("hub.docker.com",),
        ),
        Implementation(
            RepoImplementation.GITHUB,
            ("ghcr.io", "docker.pkg.github.com"),
            "GitHub REST API: the package version holding the tag (`DELETE /user/packages/<type>/<package>/versions/<id>` "
            "for the token's own user, `/orgs/<org>/…` for an organisation); a version carries every tag of one digest; "
            "the last tagged version goes with its package",
            "GITHUB_TOKEN / GH_TOKEN, else the Docker config's password for ghcr.io (a classic token of the package's "
            "own user, or of a member of its organisation); API base GITHUB_API_URL",
            "delete:packages (and read:packages; repo too for docker.pkg.github.com)",
            deletes_by_digest=True,
            api_hosts=("api.github.com",),
        ),
        Implementation(
            RepoImplementation.GITLAB,
            ("registry.gitlab.com", "registry.gitlab.*", "gitlab-registry.*"),
            "GitLab container registry, the tag alone: `DELETE /v2/<name>/tags/reference/<tag>` (GitLab's own route, "
            "until GitLab 17.0), else the OCI tag delete `DELETE /v2/<name>/manifests/<tag>` (GitLab 16.4 on); the "
            "manifest delete by digest where neither exists. Digests listed by `GET /gitlab/v1/repositories/<name>/tags/list/`",
            f"{_DOCKER_CONFIG}; a personal, group or project access token with the api scope of a Maintainer "
            "(write_registry allows push only; docs.gitlab.com/security/tokens/access_token_scopes)",
            "the api scope (repository:<name>:delete, granted to Maintainers)",
            deletes_by_digest=False,
        ),
        Implementation(
            RepoImplementation.HARBOR,
            (),  # Harbors run under any name: found by probing its API (GET /api/v2.0/systeminfo)
            "Harbor API v2.0: `DELETE /api/v2.0/projects/<p>/repositories/<r>/artifacts/<digest>/tags/<tag>` "
            "when a staying tag shares the digest, else the artifact (`DELETE …/artifacts/<digest>`); digests listed "
            "by `GET …/artifacts?with_tag=true`",
            f"{_DOCKER_CONFIG} (a robot account or user with the project's delete permissions), sent as Basic to "
            "the registry's own host",
            "artifact delete and tag delete in the project (Harbor role Maintainer, or a robot account with both)",
            deletes_by_digest=False,
        ),
        Implementation(
            RepoImplementation.QUAY,
            ("quay.io", "*.quay.io", "quay.*"),
            "Quay API: `DELETE /api/v1/repository/<namespace>/<repository>/tag/<tag>`, only that tag; without "
            "STAGESWEEP_REPO_QUAY_TOKEN the Registry API manifest delete (a tag sharing a staying tag's digest is kept)",
            "STAGESWEEP_REPO_QUAY_TOKEN (an OAuth application token with repo:write) for the tag API; "
            f"{_DOCKER_CONFIG} for the Registry API",
            "repo:write",
            deletes_by_digest=False,
        ),
        Implementation(
            RepoImplementation.ECR,
            (
                "*.dkr.ecr.*.amazonaws.com",
                "*.dkr.ecr-fips.*.amazonaws.com",
                "*.dkr.ecr.*.amazonaws.com.cn",
                "*.dkr-ecr.*.on.aws",
                "*.dkr-ecr-fips.*.on.aws",
            ),
            "AWS ECR API: `BatchDeleteImage` by `imageTag` and `imageDigest` together (up to 100 per call): the tag "
            "alone goes, and only while it names the digest it was checked at (a tag pushed again is not deleted); "
            "the image goes with its last tag; digests listed by `DescribeImages`",
            "the standard AWS chain (AWS_PROFILE, SSO, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, instance or task "
            "role); region from the host, else AWS_REGION / AWS_DEFAULT_REGION; AWS_ENDPOINT_URL_ECR honoured; the "
            "registry's own credentials from the Docker config, else an ECR token (GetAuthorizationToken)",
            "ecr:BatchDeleteImage (and ecr:GetAuthorizationToken, ecr:DescribeRepositories, ecr:DescribeImages)",
            deletes_by_digest=False,
            api_hosts=("api.ecr.<region>.amazonaws.com",),
        ),
        Implementation(
            RepoImplementation.ACR,
            ("*.azurecr.io", "*.azurecr.cn", "*.azurecr.us"),
            "ACR API: `DELETE /acr/v1/<name>/_tags/<tag>` when a staying tag shares the digest, else the "
            "Registry API manifest delete",
            f"{_DOCKER_CONFIG} (`az acr login`, a token or service principal with the delete action)",
            "content/delete (role AcrDelete)",
            deletes_by_digest=False,
        ),
        Implementation(
            RepoImplementation.GCR,
            ("gcr.io", "*.gcr.io", "*-docker.pkg.dev", "*.pkg.dev"),
            "Registry API: `DELETE /v2/<name>/manifests/<tag>` (the tag), then `…/manifests/<digest>` once no tag remains",
            f"{_DOCKER_CONFIG} (gcloud credential helper, `_json_key` or `oauth2accesstoken`)",
            "artifactregistry.repositories.deleteArtifacts (role Artifact Registry Repository Administrator) / "
            "storage.objects.delete for gcr.io",
            deletes_by_digest=False,
        ),
    )
}

#: names accepted by the options, in the order werf lists them
CHOICES = tuple(RepoImplementation)


def detect(host: str) -> RepoImplementation | None:
    """The implementation whose host patterns match ``host`` (``HOST[:PORT]``), if any."""
    name = host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower()
    for impl in IMPLEMENTATIONS.values():
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in impl.hosts):
            return impl.name
    return None
