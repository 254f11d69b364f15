"""A FAKE clock for servers under test: the time a test publishes in $IMAGINE_FAKE_CLOCK (a
file holding seconds since the epoch), so presence and warnings age with the culler's injected
clock. Without the variable (or before the file exists), the real time."""

from __future__ import annotations

import os
import time
from pathlib import Path


def now() -> float:
    path = os.environ.get("IMAGINE_FAKE_CLOCK")
    if path:
        try:
            return float(Path(path).read_text())
        except (OSError, ValueError):
            pass
    return time.time()
