"""How stagesweep's tasks are cached and retried: one place for both.

* `PER_RUN`: a task's result is cached per flow run (its source + its inputs + the run), so a flow
  run retried in place plans exactly what it planned the first time and skips the deletion
  batches it already finished; no two tasks or runs ever share an entry.
* `io_task_options()`: the one retry layer. Prefect retries I/O tasks (exponential backoff with
  jitter) only for errors that say a retry can help; never 401/403/404 or config errors.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.cache_policies import INPUTS, RUN_ID, TASK_SOURCE
from prefect.tasks import exponential_backoff

from schemas.errors import StagesweepError

#: cache key = which task (its source) + its inputs + the flow run: never shared between tasks
PER_RUN = TASK_SOURCE + INPUTS + RUN_ID

IO_RETRIES = 4
#: base delay of the exponential backoff (seconds); STAGESWEEP_RETRY_DELAY_SECONDS overrides it
IO_RETRY_BASE = float(os.environ.get("STAGESWEEP_RETRY_DELAY_SECONDS", "1"))
IO_RETRY_DELAYS = exponential_backoff(backoff_factor=IO_RETRY_BASE)
IO_RETRY_JITTER = 0.5


def only_retryable(task: Any, task_run: Any, state: Any) -> bool:
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


def io_task_options() -> dict[str, Any]:
    return dict(
        retries=IO_RETRIES,
        retry_delay_seconds=IO_RETRY_DELAYS,
        retry_jitter_factor=IO_RETRY_JITTER,
        retry_condition_fn=only_retryable,
    )
