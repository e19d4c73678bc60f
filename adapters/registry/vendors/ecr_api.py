"""The ECR API for the ``ecr`` implementation (boto3): where a repository lives, the AWS
credentials, authorization tokens and every call's failure as a typed error.

* Where: a registry host ``<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`` (IPv4) or
  ``<account>.dkr-ecr[-fips].<region>.on.aws`` (dual-stack, IPv4 and IPv6:
  https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-requests.html) names the registry (``registryId`` = the account) and the region. Any other host (a test fake, a proxy)
  is the default registry of the credentials' account, in the region of the standard AWS chain
  (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's ``region``).
* Who: boto3's standard credential chain (``AWS_PROFILE``, SSO, ``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY``, instance or task role); the API endpoint is botocore's own
  (``AWS_ENDPOINT_URL_ECR`` / ``AWS_ENDPOINT_URL`` / the profile's ``services`` honoured).
  Requests are signed by botocore (SigV4).
* Tokens: ``GetAuthorizationToken``, cached per region until shortly before they expire.
* Calls: botocore retries nothing on deletes (one attempt) and once on reads: rate limits surface
  to stagesweep's own batch retries. ``ThrottlingException`` (or 429) → ``RegistryRateLimited``;
  5xx → retryable; ``AccessDeniedException`` → ``RegistryAuthError`` naming the IAM action.

What is deleted and how: :mod:`adapters.registry.vendors.ecr`.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions

from adapters.registry.client import _repository
from adapters.registry.errors import parse_retry_after
from schemas.errors import RegistryAuthError, RegistryError, RegistryRateLimited
from schemas.registry_implementations import Implementation

if TYPE_CHECKING:
    from adapters.registry.transport import RegistryOptions

# botocore logs every response body at DEBUG — GetAuthorizationToken's carries the registry
# password: keep that logger above DEBUG whatever the root level is (credentials are never logged)
_BODY_LOGGER = logging.getLogger("botocore.parsers")
if _BODY_LOGGER.level < logging.INFO:  # NOTSET included: it would follow a DEBUG root
    _BODY_LOGGER.setLevel(logging.INFO)

_HOST = re.compile(
    r"^(?P<account>[0-9]{12})\.(?:dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"|dkr-ecr(?:-fips)?\.(?P<dual_region>[a-z0-9-]+)\.on\.aws)$"
)

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
    return (found["account"], found["region"] or found["dual_region"]) if found else None


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
class EcrToken:
    username: str
    password: str
    endpoint_host: str  # the registry host the token is for (its proxyEndpoint)
    renew_at: float  # time.monotonic()


def host_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{host}:{port}" if port and port != default else host


class EcrApi:
    """The ECR API as one deleter uses it: a boto3 session, per region a client for reads (one
    retry) and one for deletes (no retry), and the authorization tokens. ``options``: the registry
    client's (timeouts, pool size, request slots); ``spec``/``permission_hint``: the implementation
    that messages name."""

    def __init__(self, options: RegistryOptions, env: Mapping[str, str], spec: Implementation, permission_hint: str) -> None:
        self.options = options
        self.env = env
        self.spec = spec
        self.permission_hint = permission_hint
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        #: region → (client for reads: one retry, client for deletes: no retry)
        self._clients: dict[str, tuple[Any, Any]] = {}
        self._tokens: dict[str, EcrToken] = {}

    def token(self, region: str, what: str) -> EcrToken:
        with self._lock:
            cached = self._tokens.get(region)
        if cached is not None and cached.renew_at > time.monotonic():
            return cached
        answer = self.call(what, region, "get_authorization_token")
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
        token = EcrToken(
            username or "AWS",
            password,
            host_of(endpoint) if endpoint else "",
            time.monotonic() + max(lifetime - TOKEN_MARGIN, lifetime / 2),
        )
        with self._lock:
            self._tokens[region] = token
        return token

    def boto_session(self) -> boto3.session.Session:
        with self._lock:
            if self._session is None:
                self._session = boto3.session.Session()
            return self._session

    def default_region(self) -> str:
        region = self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION")
        if not region:
            try:
                region = self.boto_session().region_name
            except botocore.exceptions.ProfileNotFound as exc:
                raise self.no_credentials("cannot find the AWS region", exc) from exc
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
        return EcrRepository(ref.registry, ref.path, self.default_region(), None)

    def boto_client(self, region: str, *, deletes: bool = False) -> Any:
        with self._lock:
            found = self._clients.get(region)
        if found is None:
            options = self.options

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
                session = self.boto_session()
                found = (make(2), make(1))
            except _NO_CREDENTIALS as exc:
                raise self.no_credentials(f"cannot reach the ECR API in {region}", exc) from exc
            with self._lock:
                found = self._clients.setdefault(region, found)
        return found[1] if deletes else found[0]

    def call(self, what: str, region: str, operation: str, *, deletes: bool = False, **params: Any) -> dict[str, Any]:
        """One ECR API call; every failure becomes a typed error (see :meth:`error`)."""
        api = self.boto_client(region, deletes=deletes)
        url = api.meta.endpoint_url
        slot = self.options.request_slot
        try:
            with slot(host_of(url)) if slot is not None else nullcontext():
                return getattr(api, operation)(**params)
        except botocore.exceptions.ClientError as exc:
            raise self.error(what, exc, url, ACTIONS.get(operation, operation)) from exc
        except _NO_CREDENTIALS as exc:
            raise self.no_credentials(what, exc, url) from exc
        except botocore.exceptions.NoRegionError as exc:
            raise RegistryError(f"{what}: no AWS region", hint="Set AWS_REGION. Nothing was deleted.") from exc
        except _NETWORK as exc:
            raise RegistryError(f"{what}: {exc} [{url}]", url=url, retryable=True) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise RegistryError(f"{what}: {exc} [{url}]", url=url) from exc

    def no_credentials(self, what: str, exc: Exception, url: str | None = None) -> RegistryAuthError:
        return RegistryAuthError(
            f"{what}: no usable AWS credentials for the {self.spec.name} implementation ({type(exc).__name__}: {exc})"
            + (f" [{url}]" if url else ""),
            status=401,
            url=url,
            hint=f"Provide AWS credentials with ecr:GetAuthorizationToken and {self.spec.permission}: "
            f"{_CREDENTIAL_VARIABLES}. Nothing was deleted.",
        )

    def error(self, what: str, exc: botocore.exceptions.ClientError, url: str, action: str) -> RegistryError:
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
                f"or replace them. {self.permission_hint}",
                **facts,
            )
        if code in _DENIED or status in (401, 403):
            return RegistryAuthError(
                f"{what}: the {self.spec.name} API refused ({status} {code}) — it needs {action}"
                + (f" ({message})" if message else "")
                + f" [{url}]",
                hint=self.permission_hint,
                **facts,
            )
        return RegistryError(text, retryable=(status or 0) >= 500 or code in _SERVER, **facts)


__all__ = ["ACTIONS", "EcrApi", "EcrRepository", "EcrToken", "host_of", "parse_registry_host"]
