"""Registry answers and failures → typed errors from ``schemas.errors``.

Every error carries the HTTP status, the registry error code (first entry of the JSON
``errors`` body), the URL and whether retrying can help: 429, 5xx and network failures can;
400, 401, 403, 404, 405 cannot.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json

from schemas.errors import NotFoundError, RegistryAuthError, RegistryError, RegistryRateLimited

__all__ = ["RegistryRateLimited", "error_for_response", "parse_error_body", "parse_retry_after"]


def parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    """(code, message) of the first entry of a Distribution ``{"errors": [...]}`` body."""
    if not body:
        return None, None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    errors = document.get("errors") if isinstance(document, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code, message = errors[0].get("code"), errors[0].get("message")
        return (str(code) if code else None), (str(message) if message else None)
    return None, None


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def error_for_response(what: str, status: int, url: str, body: bytes, retry_after_header: str | None = None) -> RegistryError:
    """The typed error for a registry answer that the operation ``what`` did not expect."""
    code, detail = parse_error_body(body)
    answered = f"registry answered {status}" + (f" {code}" if code else "")
    if detail:
        answered += f" ({detail})"
    message = f"{what}: {answered} [{url}]"
    facts = {"status": status, "code": code, "url": url}
    if status in (401, 403):
        return RegistryAuthError(
            message,
            hint="Check that the Docker config holds credentials for this registry with enough "
            "rights (`docker login HOST`, or --docker-config / DOCKER_CONFIG).",
            **facts,
        )
    if status == 404:
        return NotFoundError(message, **facts)
    if status == 429:
        return RegistryRateLimited(
            message,
            retry_after=parse_retry_after(retry_after_header),
            hint="The registry rate-limits requests; lower --parallel-tasks-limit or retry later.",
            **facts,
        )
    if status == 405 or code == "UNSUPPORTED":
        return RegistryError(
            message,
            hint="The registry does not allow this operation; for a Distribution registry, "
            "deletes need `storage.delete.enabled: true`.",
            **facts,
        )
    if status == 400 and b"HTTPS server" in body:
        return RegistryError(
            message,
            hint="The registry speaks HTTPS: do not pass --insecure-registry.",
            **facts,
        )
    return RegistryError(message, retryable=status >= 500, **facts)
