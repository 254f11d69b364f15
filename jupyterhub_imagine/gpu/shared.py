"""One GPU sampler shared by every client of a server, kept off the event loop.

The status bar, the GPU panel and the culler all poll ``/gpu`` (or ``/activity``). NVML calls block
and a sick driver can hang in them for tens of seconds, so:

- a fresh report (younger than ``cache_seconds``) is answered from memory, on the event loop;
- otherwise at most one read is in flight, in a daemon thread of its own; every caller awaits that
  same read, for at most ``timeout`` seconds;
- a read that hangs past ``timeout`` is answered, at once for every later caller, with an
  "unavailable" report that says so; the hung thread is left behind (it cannot be interrupted) and
  the next read starts only once it returns;
- a read that raises is answered with an "unavailable" report naming the driver's error.

So ``sample()`` never raises and never waits longer than ``timeout``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from .nvml import DRIVER_ERROR_MESSAGE, GPUSampler, unavailable

HUNG_MESSAGE = "GPU status is unavailable: the GPU driver did not answer within {:g} s."


class SharedGPUSampler:
    """Async face of a blocking ``read()``: cached, one read in flight, bounded wait."""

    def __init__(
        self,
        read: Callable[[], dict[str, Any]],
        cache_seconds: float = 1.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        close: Callable[[], None] | None = None,
    ) -> None:
        self._read = read
        self._close = close
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._clock = clock
        self._report: dict[str, Any] | None = None
        self._report_at = 0.0
        self._inflight: asyncio.Future[dict[str, Any]] | None = None
        self._started_at = 0.0
        self.reads = 0  # reads started, for tests and the bench

    @classmethod
    def over(cls, sampler: GPUSampler, **kwargs: Any) -> SharedGPUSampler:
        """Share a GPUSampler (its own cache is bypassed: this one decides when to read)."""
        return cls(sampler.read, close=sampler.close, **kwargs)

    async def sample(self) -> dict[str, Any]:
        now = self._clock()
        if self._report is not None and now - self._report_at < self.cache_seconds:
            return self._report
        if self._inflight is None:
            self._start_read(now)
        elif now - self._started_at >= self.timeout:
            return self._hung()
        assert self._inflight is not None
        remaining = max(0.0, self.timeout - (now - self._started_at))
        try:
            return await asyncio.wait_for(asyncio.shield(self._inflight), remaining)
        except TimeoutError:
            return self._hung()

    def _start_read(self, now: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._inflight, self._started_at = future, now
        self.reads += 1

        def deliver(report: dict[str, Any]) -> None:
            self._report, self._report_at = report, self._clock()
            if self._inflight is future:
                self._inflight = None
            if not future.done():
                future.set_result(report)

        def work() -> None:
            try:
                report = self._read()
            except Exception as exc:  # noqa: BLE001 - any driver error becomes "unavailable"
                reason = str(exc) or type(exc).__name__
                report = unavailable(DRIVER_ERROR_MESSAGE.format(reason), reason)
            try:
                loop.call_soon_threadsafe(deliver, report)
            except RuntimeError:
                pass  # the loop closed while the driver hung: nobody is waiting any more

        threading.Thread(target=work, name="imagine-nvml-read", daemon=True).start()

    def _hung(self) -> dict[str, Any]:
        return unavailable(HUNG_MESSAGE.format(self.timeout), "timeout")

    def close(self) -> None:
        if self._close is not None and self._inflight is None:
            self._close()
