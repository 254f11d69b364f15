"""A FAKE NVML module whose driver breaks on demand (no GPU on the test machines).

It forwards every call to ``tests.support.fake_nvml`` except ``nvmlDeviceGetCount``, which
``FAULT`` controls: "" works, "hang" blocks until ``RELEASE`` is set (a driver call that hangs),
any other text raises ``NVMLError(text)`` ("GPU is lost", "Unknown Error", ...). Tests run the
server in-process, so they flip these module globals directly.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.support import fake_nvml as _base

FAULT = {"mode": ""}
RELEASE = threading.Event()
NVMLError = _base.NVMLError


def nvmlDeviceGetCount() -> int:  # noqa: N802 (the binding's name)
    mode = FAULT["mode"]
    if mode == "hang":
        RELEASE.wait(60)
    elif mode:
        raise NVMLError(mode)
    return _base.nvmlDeviceGetCount()


def __getattr__(name: str) -> Any:
    return getattr(_base, name)
