"""``ecr``: AWS Elastic Container Registry, through the ECR API (boto3).

Where a repository lives, the AWS credentials, tokens and how each API failure is typed:
:mod:`adapters.registry.vendors.ecr_api`.

* The Registry API (reads, the re-check before each delete) takes the Docker config's
  credentials for the registry host; where the Docker config has none, the deleter answers for
  that host with ``AWS`` and the password of an ECR authorization token (``GetAuthorizationToken``,
  cached until shortly before it expires) — for an ECR host, or for the host the token names as its
  ``proxyEndpoint``; never for another host.
* Deletes: ``BatchDeleteImage``, up to 100 images per call, each named by its tag AND the digest
  the tag was found at right before (an ``ImageIdentifier`` takes both): ECR removes the tag only
  while it still names that digest, so a tag pushed again since the re-check keeps its new image
  (``ImageTagDoesNotMatchDigest``: not deleted, reported as the tag having moved). A tag delete
  removes that tag; the image goes with its last tag — so a tag whose digest a staying tag shares
  is deleted alone (``deletes_by_digest`` is False). Per tag: deleted → ``deleted``;
  ``ImageNotFound`` → ``already-gone``; other failures → errors. A whole call refused with
  ``ThrottlingException`` (or 429) → ``RegistryRateLimited`` for each tag; 5xx → retryable;
  ``AccessDeniedException`` → ``RegistryAuthError`` naming ``ecr:BatchDeleteImage``.
  botocore retries nothing on deletes (one attempt) and once on reads: rate limits surface to
  stagesweep's own batch retries.
* Pre-flight: a token (``ecr:GetAuthorizationToken``), the repository (``DescribeRepositories``),
  and a ``BatchDeleteImage`` of a digest that cannot exist (``sha256:000…0``): the failure
  ``ImageNotFound`` means deletes are permitted; ``AccessDeniedException`` means they are not.
* ``listed_digests``: ``DescribeImages`` (tagged images, 1000 per page) — every tag's digest in a
  few requests; where it fails, None (the backend then asks the Registry API per tag).

References: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchDeleteImage.html ,
https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageIdentifier.html ,
https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageFailure.html ,
https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html ,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html
(the IAM actions).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from adapters.registry.vendors.base import PROBE_DIGEST, TagDeleter, TagToDelete
from adapters.registry.vendors.ecr_api import THROTTLE_WAIT, EcrApi, EcrRepository, host_of, parse_registry_host
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

if TYPE_CHECKING:
    from adapters.registry.client import RegistryClient

log = logging.getLogger(__name__)

#: BatchDeleteImage takes at most this many image ids per call
BATCH_LIMIT = 100
#: DescribeImages page size (its maximum)
PAGE_SIZE = 1000


class EcrDeleter(TagDeleter):
    implementation = RepoImplementation.ECR

    provides_registry_credentials = True

    def __init__(self, client: RegistryClient, env: Mapping[str, str] | None = None) -> None:
        super().__init__(client, env)
        self.api = EcrApi(client.options, self.env, self.spec, self.permission_hint())
        self._unlisted: set[str] = set()  # repositories whose listing failed (warned once)
        self._install_registry_credentials()

    # -- the Registry API's credentials ---------------------------------------------------------
    def _install_registry_credentials(self) -> None:
        """Hosts the Docker config has no credentials for are answered with an ECR token (the
        Docker config's own entry, or the options' credential source, comes first)."""
        credentials = self.client.transport.auth.credentials
        previous = credentials.fallback

        def fallback(host: str) -> tuple[str, str] | None:
            found = previous(host) if previous is not None else None
            return found if found is not None else self.registry_credential(host)

        credentials.fallback = fallback

    def registry_credential(self, host: str) -> tuple[str, str] | None:
        """(``AWS``, token password) for registry ``host``: an ECR host, or the host the token of
        the default registry names; None for any other host."""
        parsed = parse_registry_host(host)
        region = parsed[1] if parsed else self.api.default_region()
        token = self.api.token(region, f"cannot get an ECR registry token for {host}")
        if parsed is None and token.endpoint_host != host_of(host):
            return None
        return token.username, token.password

    def repository(self, repository: str) -> EcrRepository:
        """Where ``repository`` (``HOST/PATH``) lives for the ECR API."""
        return self.api.repository(repository)

    def _needs(self, nothing_deleted: bool = True) -> str:
        """The permission hint; mid-run (``nothing_deleted`` False) without its "Nothing was deleted"."""
        hint = self.permission_hint()
        return hint if nothing_deleted else hint.removesuffix(" Nothing was deleted.")

    # -- what an implementation provides ----------------------------------------------------
    def preflight(self, repository: str) -> None:
        target = self.repository(repository)
        self.api.token(target.region, f"{repository}: cannot get an ECR authorization token")
        try:
            self.api.call(
                f"{repository}: cannot look up the ECR repository",
                target.region,
                "describe_repositories",
                **target.params(repositoryNames=[target.name], repositoryName=None),
            )
        except RegistryError as exc:
            if exc.code == "RepositoryNotFoundException":
                exc.message = f"{repository}: the ECR repository {target.name} does not exist in {target.where} [{exc.url}]"
                exc.hint = (
                    "Check the repository address, the region (AWS_REGION) and the AWS account of the "
                    "credentials (AWS_PROFILE). Nothing was deleted."
                )
            raise
        answer = self.api.call(
            f"{repository}: cannot check that deletes are permitted",
            target.region,
            "batch_delete_image",
            deletes=True,
            **target.params(imageIds=[{"imageDigest": PROBE_DIGEST}]),
        )
        codes = {failure.get("failureCode") for failure in answer.get("failures") or []}
        if "ImageNotFound" in codes or (not codes and not answer.get("imageIds")):
            return
        raise RegistryError(
            f"{repository}: the pre-flight delete of a digest that cannot exist answered {sorted(c for c in codes if c)}",
            hint="Nothing was deleted; run again, or pass --repo-implementation if this is not ECR.",
        )

    def delete_tag(self, repository: str, tag: str, digest: str, shared: bool) -> Outcome:
        outcome = self.delete_tags(repository, [(tag, digest, shared)])[0]
        if isinstance(outcome, RegistryError):
            raise outcome
        return outcome

    def delete_tags(self, repository: str, items: Sequence[TagToDelete]) -> list[Outcome | RegistryError]:
        items = list(items)
        if not items:
            return []
        try:
            target = self.repository(repository)
        except RegistryAuthError:
            raise
        except RegistryError as exc:
            return [exc] * len(items)
        chunks = [items[i : i + BATCH_LIMIT] for i in range(0, len(items), BATCH_LIMIT)]
        done = self.client.map_concurrent(lambda chunk: self._delete_chunk(repository, target, chunk), chunks)
        return [outcome for chunk in done for outcome in chunk]  # type: ignore[union-attr]

    def _delete_chunk(self, repository: str, target: EcrRepository, chunk: list[TagToDelete]) -> list[Outcome | RegistryError]:
        tags = {tag: digest for tag, digest, _ in chunk}  # the digest each tag was found at right before
        what = f"cannot delete {len(tags)} tag(s) of {repository}"
        try:
            answer = self.api.call(
                what,
                target.region,
                "batch_delete_image",
                deletes=True,
                **target.params(imageIds=[{"imageTag": tag, "imageDigest": digest} for tag, digest in tags.items()]),
            )
        except RegistryAuthError as exc:
            exc.hint = self._needs(nothing_deleted=False)
            raise
        except RegistryError as exc:
            return [exc] * len(chunk)
        deleted_tags: set[str] = set()
        deleted_digests: set[str] = set()
        for image in answer.get("imageIds") or []:
            if image.get("imageTag"):
                deleted_tags.add(image["imageTag"])
            elif image.get("imageDigest"):
                deleted_digests.add(image["imageDigest"])
        failures = {
            f["imageId"]["imageTag"]: f
            for f in answer.get("failures") or []
            if isinstance(f.get("imageId"), dict) and f["imageId"].get("imageTag")
        }
        out: list[Outcome | RegistryError] = []
        for tag, digest, _ in chunk:
            if tag in deleted_tags or (tag not in failures and digest in deleted_digests):
                out.append(Outcome.DELETED)
            elif tag in failures:
                out.append(self._failure(repository, tag, failures[tag]))
            else:
                out.append(
                    RegistryError(
                        f"cannot delete {repository}:{tag}: the ECR API reported neither its delete nor a failure",
                        retryable=True,
                    )
                )
        return out

    def _failure(self, repository: str, tag: str, failure: Mapping[str, Any]) -> Outcome | RegistryError:
        code = str(failure.get("failureCode") or "")
        reason = str(failure.get("failureReason") or "")
        text = f"cannot delete {repository}:{tag}: ECR reported {code}" + (f" ({reason})" if reason else "")
        if code == "ImageNotFound":
            return Outcome.ALREADY_GONE
        if code == "UpstreamTooManyRequests":
            return RegistryRateLimited(text, retry_after=THROTTLE_WAIT, code=code)
        if code in ("UpstreamUnavailable", "KmsError"):
            return RegistryError(text, code=code, retryable=True)
        if code == "ImageTagDoesNotMatchDigest":
            return RegistryError(
                f"{text}: the tag was pushed again since its re-check and names another image now; it was not deleted",
                code="TAG_MOVED",
                hint="Run the cleanup again to decide on the new image.",
            )
        if code == "ImageReferencedByManifestList":
            return RegistryError(
                text, code=code, hint="An image index (manifest list) refers to this image; it goes with the index."
            )
        return RegistryError(text, code=code or None)

    def listed_digests(self, repository: str) -> dict[str, str] | None:
        try:
            target = self.repository(repository)
            found: dict[str, str] = {}
            token: str | None = None
            while True:
                params = target.params(filter={"tagStatus": "TAGGED"}, maxResults=PAGE_SIZE)
                if token:
                    params["nextToken"] = token
                page = self.api.call(f"cannot list the images of {repository}", target.region, "describe_images", **params)
                for image in page.get("imageDetails") or []:
                    for tag in image.get("imageTags") or []:
                        found[tag] = image["imageDigest"]
                token = page.get("nextToken")
                if not token:
                    return found
        except RegistryError as exc:
            with self._lock:
                first = repository not in self._unlisted
                self._unlisted.add(repository)
            if first:
                log.warning("%s; asking the registry for each tag's digest instead", exc.message)
            return None


__all__ = ["EcrDeleter", "EcrRepository", "parse_registry_host"]
