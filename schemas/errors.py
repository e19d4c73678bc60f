"""The one error hierarchy. Adapters raise these with facts; the CLI turns them into messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gotemplate import errors as gotemplate_errors

if TYPE_CHECKING:
    from schemas.summary import RunSummary


class StagesweepError(Exception):
    """Root of every error stagesweep raises on purpose.

    ``hint`` tells the user what to do; ``exit_code`` is the CLI exit code (SPEC §9).
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: what the run did before it stopped (set by the run that raised it, shown by the CLI)
        self.summary: RunSummary | None = None

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsageError(StagesweepError):
    """The command line does not fit together (e.g. --repo with --stages-storage): exit 2, as a
    usage error of the parser is."""

    exit_code = 2


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


class TemplateError(ConfigError, gotemplate_errors.TemplateError):
    """A werf.yaml template cannot be parsed or rendered: the template engine's error
    (``gotemplate.TemplateError``, which it also is) as a ConfigError of this application.

    ``file`` is the source file (werf.yaml or a ``.werf/`` partial), ``line``/``column`` are
    1-based positions in that file, ``function`` is the template function or construct at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        function: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(gotemplate_errors.position_text(message, line, column, function), file=file, hint=hint)
        self.line = line
        self.column = column
        self.function = function
        self.reason = message

    @classmethod
    def of_engine(cls, error: gotemplate_errors.TemplateError) -> TemplateError:
        """The template engine's error as this application's."""
        return cls(error.reason, file=error.file, line=error.line, column=error.column, function=error.function, hint=error.hint)


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

    def __reduce__(self) -> tuple[Any, ...]:  # keep facts across pickling (Prefect task results, processes)
        return (
            _rebuild_registry_error,
            (type(self), self.message, self.status, self.code, self.url, self.retryable, self.hint),
        )


def _rebuild_registry_error(
    cls: type[RegistryError],
    message: str,
    status: int | None,
    code: str | None,
    url: str | None,
    retryable: bool,
    hint: str | None,
) -> RegistryError:
    return cls(message, status=status, code=code, url=url, retryable=retryable, hint=hint)


class RegistryRateLimited(RegistryError):
    """429 Too Many Requests. ``retry_after`` is the server's wait hint in seconds (or None)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **facts: Any) -> None:
        facts.setdefault("retryable", True)
        super().__init__(message, **facts)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_rate_limited,
            (self.message, self.retry_after, self.status, self.code, self.url, self.retryable, self.hint),
        )


def _rebuild_rate_limited(
    message: str,
    retry_after: float | None,
    status: int | None,
    code: str | None,
    url: str | None,
    retryable: bool,
    hint: str | None,
) -> RegistryRateLimited:
    return RegistryRateLimited(
        message, retry_after=retry_after, status=status, code=code, url=url, retryable=retryable, hint=hint
    )


class RegistryAuthError(RegistryError):
    """401/403: credentials missing or refused. Never retried."""


class NotFoundError(RegistryError):
    """404: manifest, blob or repository unknown."""


class SharedDigestError(RegistryError):
    """Deleting by digest would also remove another tag that must stay (SPEC §12.4)."""


class StorageError(StagesweepError):
    """A stages storage / images repo backend cannot do what was asked."""


class WrongStorageFormat(StorageError):
    """A storage holds another werf format than the options address (SPEC §13.4): the run stops
    before it decides anything. ``signs``: what was found, as (repository, tag, sign) rows."""

    def __init__(self, message: str, *, signs: list[dict[str, str]] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.signs = list(signs or [])


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


class PlanInvariantError(StagesweepError):
    """The plan would break a safety invariant; nothing is deleted."""


class DeletionsFailed(StagesweepError):
    """Some deletions failed (exit code 3); the audit lists them and a rerun is safe.

    Raised by a deletion batch with every row's outcome in ``results`` (so Prefect does not cache
    the batch and a retried flow run redoes it), and by the run when its deletions are done.
    """

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None, results: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.results = list(results or [])
        self.retryable = any(r.get("retryable") for r in self.results if r.get("outcome") == "failed")

    @classmethod
    def of_batch(cls, results: list[dict[str, Any]]) -> DeletionsFailed:
        failed = [r for r in results if r["outcome"] == "failed"]
        first = failed[0] if failed else {}
        where = f"; first: {first.get('repository')}:{first.get('tag')}: {first.get('error')}" if first else ""
        return cls(f"{len(failed)} of {len(results)} deletions failed{where}", results=results)

    def __reduce__(self) -> tuple[Any, ...]:  # keep the rows across pickling (Prefect results)
        return (_rebuild_deletions_failed, (self.message, self.hint, self.results))


def _rebuild_deletions_failed(message: str, hint: str | None, results: list[dict[str, Any]]) -> DeletionsFailed:
    return DeletionsFailed(message, hint=hint, results=results)


class FleetFailed(StagesweepError):
    """Some projects of a fleet run failed (exit code 3); the others finished. ``outcomes`` are
    the fleet's per-project rows (``schemas.fleet.ProjectOutcome``)."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None, outcomes: list[Any] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.outcomes = list(outcomes or [])

    def __reduce__(self) -> tuple[Any, ...]:  # keep the rows across pickling (Prefect results)
        return (_rebuild_fleet_failed, (self.message, self.hint, self.outcomes))


def _rebuild_fleet_failed(message: str, hint: str | None, outcomes: list[Any]) -> FleetFailed:
    return FleetFailed(message, hint=hint, outcomes=outcomes)
