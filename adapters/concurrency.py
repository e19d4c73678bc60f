"""The one concurrency helper of the adapters: calls over items on a bounded thread pool.

`BulkRunner` keeps its threads (and so their registry connections) between calls;
`parallel_map` is the one-shot form for a single batch of work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BulkRunner:
    """Runs ``fn`` over items on at most ``parallel`` threads, created on first use."""

    def __init__(self, parallel: int, *, thread_name_prefix: str = "bulk") -> None:
        self.parallel = parallel
        self._prefix = thread_name_prefix
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._worker = threading.local()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.parallel,
                    thread_name_prefix=self._prefix,
                    initializer=setattr,
                    initargs=(self._worker, "inside", True),
                )
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False) -> list[R | Exception]:
        """``[fn(item) for item in items]`` concurrently, results in item order.

        By default the first failure (in item order among those that failed) is raised once
        the calls already running have finished; calls not started yet are cancelled. With
        ``return_exceptions`` every item runs and its exception is returned in its place.
        Called from one of this runner's own threads, it runs inline (no pool deadlock).
        """
        items = list(items)
        if len(items) <= 1 or self.parallel == 1 or getattr(self._worker, "inside", False):
            return _serial(fn, items, return_exceptions)
        futures = [self._pool().submit(fn, item) for item in items]
        if not return_exceptions:
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            if pending or any(f.exception() is not None for f in done):
                for future in pending:
                    future.cancel()
                wait(futures)
                for future in futures:
                    if not future.cancelled() and future.exception() is not None:
                        raise future.exception()
        results: list[R | Exception] = []
        for future in futures:
            error = future.exception()
            if error is not None and not isinstance(error, Exception):
                raise error
            results.append(error if error is not None else future.result())
        return results


def parallel_map(fn: Callable[[T], R], items: Sequence[T], parallel: int) -> list[R]:
    """`[fn(item) for item in items]` on at most `parallel` threads, results in item order; the
    first failure (in item order) is raised once the calls already running have finished."""
    runner = BulkRunner(max(1, min(parallel, len(items))), thread_name_prefix="map")
    try:
        return runner.map(fn, items)  # type: ignore[return-value]
    finally:
        runner.close()


def _serial(fn: Callable[[T], R], items: list[T], return_exceptions: bool) -> list[R | Exception]:
    results: list[R | Exception] = []
    for item in items:
        try:
            results.append(fn(item))
        except Exception as error:
            if not return_exceptions:
                raise
            results.append(error)
    return results
