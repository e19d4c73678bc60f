"""The one retry layer: Prefect task retries, only for errors that say a retry can help."""

from __future__ import annotations

import os

from prefect.tasks import exponential_backoff

from schemas.errors import StagesweepError

IO_RETRIES = 4
#: base delay of the exponential backoff (seconds); STAGESWEEP_RETRY_DELAY_SECONDS overrides it
IO_RETRY_BASE = float(os.environ.get("STAGESWEEP_RETRY_DELAY_SECONDS", "1"))
IO_RETRY_DELAYS = exponential_backoff(backoff_factor=IO_RETRY_BASE)
IO_RETRY_JITTER = 0.5


def only_retryable(task, task_run, state) -> bool:
    """retry_condition_fn: retry retryable registry/network errors; never 401/403/404 or
    config errors."""
    try:
        state.result()
    except StagesweepError as exc:
        return bool(getattr(exc, "retryable", False))
    except (ConnectionError, TimeoutError, OSError):
        return True
    except Exception:
        return False
    return False


def io_task_options() -> dict:
    return dict(
        retries=IO_RETRIES,
        retry_delay_seconds=IO_RETRY_DELAYS,
        retry_jitter_factor=IO_RETRY_JITTER,
        retry_condition_fn=only_retryable,
    )
