"""Waiting for something to happen (never a bare sleep): poll a condition until it holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def wait_until(condition: Callable[[], object], timeout: float, what: str,
               every: float = 0.2) -> None:
    """Poll ``condition`` every ``every`` seconds until it returns a true value; fail with
    ``what`` after ``timeout`` seconds. Exceptions from ``condition`` propagate."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


async def await_until(condition: Callable[[], Awaitable[object] | object], timeout: float,
                      what: str, every: float = 0.1) -> None:
    """``wait_until`` for a running event loop; ``condition`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)
