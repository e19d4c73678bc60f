"""How to reach registries: the SPEC §9 registry options, as one immutable value."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass


@dataclass(frozen=True)
class RegistryOptions:
    """Registry connection options shared by every repository a run touches.

    * ``docker_config`` — Docker config *directory* (holds ``config.json``); ``None`` means
      ``$DOCKER_CONFIG``, else ``~/.docker``. Credentials never come from anywhere else.
    * ``insecure_registry`` — talk plain HTTP instead of HTTPS.
    * ``skip_tls_verify`` — HTTPS without certificate verification.
    * ``ca_file`` — extra PEM CA bundle to trust (private CAs, tests).
    * ``parallel`` — worker threads for bulk operations (``--parallel-tasks-limit``).
    * ``timeout`` — seconds for connecting and for each read from a registry.
    * ``max_retry_after`` — the longest ``Retry-After`` (seconds) a rate-limited request waits
      before its error is raised for the retry layer; longer hints are cut to it.
    * ``request_slot`` — optional ``host -> context manager`` held around every HTTP exchange
      with ``host`` (``HOST[:PORT]``): the caller's limits across processes (no Prefect here).
    * ``implementation`` — the registry implementation the repositories reached with these
      options use (``schemas.registry_implementations``): how a tag is deleted.
    * ``credential_source`` — optional ``host -> (username, password) or None`` asked for a host
      the Docker config has no credentials for (ECR: a token from the AWS API).
    """

    docker_config: str | None = None
    insecure_registry: bool = False
    skip_tls_verify: bool = False
    ca_file: str | None = None
    parallel: int = 10
    timeout: float = 60.0
    max_retry_after: float = 60.0
    request_slot: Callable[[str], AbstractContextManager[object]] | None = None
    implementation: str = "default"
    credential_source: Callable[[str], tuple[str, str] | None] | None = None

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise ValueError(f"parallel must be at least 1, got {self.parallel}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if self.max_retry_after < 0:
            raise ValueError(f"max_retry_after must not be negative, got {self.max_retry_after}")
