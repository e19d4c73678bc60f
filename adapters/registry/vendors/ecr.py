"""``ecr``: AWS Elastic Container Registry, through the ECR API (boto3).

* Where: a registry host ``<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`` names the
  registry (``registryId`` = the account) and the region. Any other host (a test fake, a proxy)
  is the default registry of the credentials' account, in the region of the standard AWS chain
  (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's ``region``).
* Who: boto3's standard credential chain (``AWS_PROFILE``, SSO, ``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY``, instance or task role); the API endpoint is botocore's own
  (``AWS_ENDPOINT_URL_ECR`` / ``AWS_ENDPOINT_URL`` / the profile's ``services`` honoured).
* The Registry API (reads, the re-check before each delete) takes the Docker config's
  credentials for the registry host; where the Docker config has none, the deleter answers for
  that host with ``AWS`` and the password of an ECR authorization token (``GetAuthorizationToken``,
  cached until shortly before it expires) — for an ECR host, or for the host the token names as its
  ``proxyEndpoint``; never for another host.
* Deletes: ``BatchDeleteImage`` with ``imageTag`` only, up to 100 tags per call. A tag delete
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
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions

from adapters.registry.client import _repository
from adapters.registry.errors import parse_retry_after
from adapters.registry.vendors.base import TagDeleter, TagToDelete
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import RepoImplementation
from schemas.vocab import Outcome

if TYPE_CHECKING:
    from adapters.registry.client import RegistryClient

log = logging.getLogger(__name__)
# botocore logs every response body at DEBUG — GetAuthorizationToken's carries the registry
# password: keep that logger above DEBUG whatever the root level is (credentials are never logged)
_BODY_LOGGER = logging.getLogger("botocore.parsers")
if _BODY_LOGGER.level < logging.INFO:  # NOTSET included: it would follow a DEBUG root
    _BODY_LOGGER.setLevel(logging.INFO)

_HOST = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")

#: BatchDeleteImage takes at most this many image ids per call
BATCH_LIMIT = 100
#: DescribeImages page size (its maximum)
PAGE_SIZE = 1000
#: a digest no image has: the pre-flight's delete
PROBE_DIGEST = "sha256:" + "0" * 64
#: seconds to wait after a throttled call when AWS sends no Retry-After (ECR refills per second)
THROTTLE_WAIT = 1.0
#: a token is renewed this long before it expires (they last 12 hours)
TOKEN_MARGIN = 300.0

_THROTTLING = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
#: the credentials themselves are wrong (unknown, expired, badly signed)
_BAD_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
#: the credentials are fine but lack a permission
_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "NotAuthorized", "UnauthorizedOperation"})
_SERVER = frozenset({"ServerException", "InternalFailure", "InternalServerError", "ServiceUnavailable"})
_NO_CREDENTIALS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.ProfileNotFound,
    botocore.exceptions.SSOError,
    botocore.exceptions.TokenRetrievalError,
    botocore.exceptions.CredentialRetrievalError,
)
_NETWORK = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.HTTPClientError,
)

#: ECR API operation → the IAM action it needs
ACTIONS = {
    "get_authorization_token": "ecr:GetAuthorizationToken",
    "describe_repositories": "ecr:DescribeRepositories",
    "describe_images": "ecr:DescribeImages",
    "batch_delete_image": "ecr:BatchDeleteImage",
}
_CREDENTIAL_VARIABLES = (
    "AWS_PROFILE (SSO: `aws sso login`), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or an instance or task role"
)


def parse_registry_host(host: str) -> tuple[str, str] | None:
    """(account, region) of an ECR registry host (``HOST[:PORT]``), None for any other host."""
    name = host.lower()
    if name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    found = _HOST.match(name)
    return (found["account"], found["region"]) if found else None


@dataclass(frozen=True)
class EcrRepository:
    """Where a repository ``HOST/PATH`` lives for the ECR API."""

    host: str
    name: str  # repositoryName
    region: str
    registry_id: str | None  # None: the default registry of the credentials' account

    def params(self, **more: Any) -> dict[str, Any]:
        """Request parameters: ``repositoryName`` (unless given as None), ``registryId`` where known, ``more``."""
        params = {"repositoryName": self.name, **more}
        if self.registry_id:
            params["registryId"] = self.registry_id
        return {key: value for key, value in params.items() if value is not None}

    @property
    def where(self) -> str:
        registry = f"registry {self.registry_id}" if self.registry_id else "the default registry of the AWS credentials"
        return f"{registry} in {self.region}"


@dataclass
class _Token:
    username: str
    password: str
    endpoint_host: str  # the registry host the token is for (its proxyEndpoint)
    renew_at: float  # time.monotonic()


def _host_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{host}:{port}" if port and port != default else host


class EcrDeleter(TagDeleter):
    implementation = RepoImplementation.ECR

    provides_registry_credentials = True

    def __init__(self, client: RegistryClient, env: Mapping[str, str] | None = None) -> None:
        super().__init__(client, env)
        self._aws_lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        #: region → (client for reads: one retry, client for deletes: no retry)
        self._clients: dict[str, tuple[Any, Any]] = {}
        self._tokens: dict[str, _Token] = {}
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
        region = parsed[1] if parsed else self._default_region()
        token = self._token(region, f"cannot get an ECR registry token for {host}")
        if parsed is None and token.endpoint_host != _host_of(host):
            return None
        return token.username, token.password

    def _token(self, region: str, what: str) -> _Token:
        with self._aws_lock:
            cached = self._tokens.get(region)
        if cached is not None and cached.renew_at > time.monotonic():
            return cached
        answer = self._call(what, region, "get_authorization_token")
        try:
            data = answer["authorizationData"][0]
            username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
            expires = data.get("expiresAt")
            endpoint = data.get("proxyEndpoint") or ""
        except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{what}: the ECR API answered GetAuthorizationToken without a usable token") from exc
        lifetime = 12 * 3600.0
        if isinstance(expires, dt.datetime):
            lifetime = (expires - dt.datetime.now(expires.tzinfo or dt.UTC)).total_seconds()
        token = _Token(
            username or "AWS",
            password,
            _host_of(endpoint) if endpoint else "",
            time.monotonic() + max(lifetime - TOKEN_MARGIN, lifetime / 2),
        )
        with self._aws_lock:
            self._tokens[region] = token
        return token

    # -- where, and the boto3 clients ---------------------------------------------------------
    def _boto_session(self) -> boto3.session.Session:
        with self._aws_lock:
            if self._session is None:
                self._session = boto3.session.Session()
            return self._session

    def _default_region(self) -> str:
        region = self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION")
        if not region:
            try:
                region = self._boto_session().region_name
            except botocore.exceptions.ProfileNotFound as exc:
                raise self._no_credentials("cannot find the AWS region", exc) from exc
        if not region:
            raise RegistryError(
                "the ecr implementation needs an AWS region: the registry host is not "
                "<account>.dkr.ecr.<region>.amazonaws.com and no region is configured",
                hint="Set AWS_REGION (or AWS_DEFAULT_REGION, or `region` in the AWS_PROFILE's config). Nothing was deleted.",
            )
        return region

    def repository(self, repository: str) -> EcrRepository:
        ref = _repository(repository)
        parsed = parse_registry_host(ref.registry)
        if parsed is not None:
            return EcrRepository(ref.registry, ref.path, parsed[1], parsed[0])
        return EcrRepository(ref.registry, ref.path, self._default_region(), None)

    def _api(self, region: str, *, deletes: bool = False) -> Any:
        with self._aws_lock:
            found = self._clients.get(region)
        if found is None:
            options = self.client.options

            def make(attempts: int) -> Any:
                config = botocore.config.Config(
                    retries={"mode": "standard", "total_max_attempts": attempts},
                    connect_timeout=options.timeout,
                    read_timeout=options.timeout,
                    max_pool_connections=max(10, options.parallel),
                    user_agent_extra="stagesweep",
                )
                return session.client("ecr", region_name=region, config=config)

            try:
                session = self._boto_session()
                found = (make(2), make(1))
            except _NO_CREDENTIALS as exc:
                raise self._no_credentials(f"cannot reach the ECR API in {region}", exc) from exc
            with self._aws_lock:
                found = self._clients.setdefault(region, found)
        return found[1] if deletes else found[0]

    def _call(self, what: str, region: str, operation: str, *, deletes: bool = False, **params: Any) -> dict[str, Any]:
        """One ECR API call; every failure becomes a typed error (see :meth:`_error`)."""
        api = self._api(region, deletes=deletes)
        url = api.meta.endpoint_url
        slot = self.client.options.request_slot
        try:
            with slot(_host_of(url)) if slot is not None else nullcontext():
                return getattr(api, operation)(**params)
        except botocore.exceptions.ClientError as exc:
            raise self._error(what, exc, url, ACTIONS.get(operation, operation)) from exc
        except _NO_CREDENTIALS as exc:
            raise self._no_credentials(what, exc, url) from exc
        except botocore.exceptions.NoRegionError as exc:
            raise RegistryError(f"{what}: no AWS region", hint="Set AWS_REGION. Nothing was deleted.") from exc
        except _NETWORK as exc:
            raise RegistryError(f"{what}: {exc} [{url}]", url=url, retryable=True) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise RegistryError(f"{what}: {exc} [{url}]", url=url) from exc

    # -- errors -----------------------------------------------------------------------------
    def _needs(self, nothing_deleted: bool = True) -> str:
        """The permission hint; mid-run (``nothing_deleted`` False) without its "Nothing was deleted"."""
        hint = self.permission_hint()
        return hint if nothing_deleted else hint.removesuffix(" Nothing was deleted.")

    def _no_credentials(self, what: str, exc: Exception, url: str | None = None) -> RegistryAuthError:
        return RegistryAuthError(
            f"{what}: no usable AWS credentials for the {self.spec.name} implementation ({type(exc).__name__}: {exc})"
            + (f" [{url}]" if url else ""),
            status=401,
            url=url,
            hint=f"Provide AWS credentials with ecr:GetAuthorizationToken and {self.spec.permission}: "
            f"{_CREDENTIAL_VARIABLES}. Nothing was deleted.",
        )

    def _error(self, what: str, exc: botocore.exceptions.ClientError, url: str, action: str) -> RegistryError:
        response = exc.response or {}
        error = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        code = str(error.get("Code") or "") or None
        message = str(error.get("Message") or "")
        status = meta.get("HTTPStatusCode")
        answered = f"the ECR API answered {status} {code or ''}".rstrip() + (f" ({message})" if message else "")
        text = f"{what}: {answered} [{url}]"
        facts: dict[str, Any] = {"status": status, "code": code, "url": url}
        if code in _THROTTLING or status == 429:
            headers = meta.get("HTTPHeaders") or {}
            return RegistryRateLimited(
                text,
                retry_after=parse_retry_after(headers.get("retry-after")) or THROTTLE_WAIT,
                hint="ECR rate-limits each API per account and region; lower --parallel-tasks-limit or retry later.",
                **facts,
            )
        if code in _BAD_CREDENTIALS:
            return RegistryAuthError(
                text,
                hint=f"AWS did not accept the credentials of the standard chain ({_CREDENTIAL_VARIABLES}): refresh "
                f"or replace them. {self._needs()}",
                **facts,
            )
        if code in _DENIED or status in (401, 403):
            return RegistryAuthError(
                f"{what}: the {self.spec.name} API refused ({status} {code}) — it needs {action}"
                + (f" ({message})" if message else "")
                + f" [{url}]",
                hint=self._needs(),
                **facts,
            )
        return RegistryError(text, retryable=(status or 0) >= 500 or code in _SERVER, **facts)

    # -- what an implementation provides ----------------------------------------------------
    def preflight(self, repository: str) -> None:
        target = self.repository(repository)
        self._token(target.region, f"{repository}: cannot get an ECR authorization token")
        try:
            self._call(
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
        answer = self._call(
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
        tags = list(dict.fromkeys(tag for tag, _, _ in chunk))
        what = f"cannot delete {len(tags)} tag(s) of {repository}"
        try:
            answer = self._call(
                what, target.region, "batch_delete_image", deletes=True, **target.params(imageIds=[{"imageTag": t} for t in tags])
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
            return RegistryError(text, code="TAG_MOVED", hint="Run the cleanup again to decide on the new image.")
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
                page = self._call(f"cannot list the images of {repository}", target.region, "describe_images", **params)
                for image in page.get("imageDetails") or []:
                    for tag in image.get("imageTags") or []:
                        found[tag] = image["imageDigest"]
                token = page.get("nextToken")
                if not token:
                    return found
        except RegistryError as exc:
            with self._aws_lock:
                first = repository not in self._unlisted
                self._unlisted.add(repository)
            if first:
                log.warning("%s; asking the registry for each tag's digest instead", exc.message)
            return None


__all__ = ["EcrDeleter", "EcrRepository", "parse_registry_host"]
