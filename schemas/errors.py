"""The one error hierarchy. Adapters raise these with facts; the CLI turns them into messages."""

from __future__ import annotations


class StagesweepError(Exception):
    """Root of every error stagesweep raises on purpose.

    ``hint`` tells the user what to do; ``exit_code`` is the CLI exit code (SPEC §9).
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class ConfigError(StagesweepError):
    """werf.yaml or settings are invalid. Carries file, document and key path in the message."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        document: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = []
        if file is not None:
            where.append(str(file))
        if document is not None:
            where.append(f"document {document}")
        if path:
            where.append(f"key {path}")
        full = f"{': '.join([', '.join(where), message]) if where else message}"
        super().__init__(full, hint=hint)
        self.file = file
        self.document = document
        self.path = path


class InvalidImageName(ConfigError):
    pass


class GitError(StagesweepError):
    """The git repository cannot be read or synced, or is unsuitable (shallow, missing)."""


class RegistryError(StagesweepError):
    """A registry answered with an error or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        url: str | None = None,
        retryable: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.url = url
        self.retryable = retryable

    def __reduce__(self):  # keep facts across pickling (Prefect task results, processes)
        return (
            _rebuild_registry_error,
            (type(self), self.message, self.status, self.code, self.url, self.retryable, self.hint),
        )


def _rebuild_registry_error(cls, message, status, code, url, retryable, hint):
    return cls(message, status=status, code=code, url=url, retryable=retryable, hint=hint)


class RegistryAuthError(RegistryError):
    """401/403: credentials missing or refused. Never retried."""


class NotFoundError(RegistryError):
    """404: manifest, blob or repository unknown."""


class SharedDigestError(RegistryError):
    """Deleting by digest would also remove another tag that must stay (SPEC §12.4)."""


class StorageError(StagesweepError):
    """A stages storage / images repo backend cannot do what was asked."""


class KubeError(StagesweepError):
    """A Kubernetes context cannot be listed; the run must stop (fail closed)."""

    def __init__(
        self,
        message: str,
        *,
        context: str | None = None,
        kind: str | None = None,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.context = context
        self.kind = kind
        self.status = status


class DockerHostError(StagesweepError):
    """The Docker daemon cannot be reached or refused an operation."""


class SafetyBrake(StagesweepError):
    """A safety rule stops the run before any deletion (e.g. --max-deletions)."""


class AuditError(StagesweepError):
    """The audit cannot be written (directory not writable, ...)."""
