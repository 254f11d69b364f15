"""A pretend training run for the demo's simulated GPUs, called from the sample notebook.

``train()`` keeps this server's GPUs (those in $CUDA_VISIBLE_DEVICES) busy in the simulation for
a while, printing a falling loss, then stops: the GPU panel's chart rises and falls, and after the
demo's short idle time the culler warns. Interrupting the cell ends the load within seconds.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from .simulated_nvml import load_dir

# how long a written load lasts without a refresh: an interrupted kernel goes idle quickly
FRESH_SECONDS = 4.0


def visible_gpus() -> list[str]:
    raw = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def _write(folder: Path, uuid: str, utilization: float, until: float) -> None:
    load = {"utilization": utilization, "memory_used": 12 * 2**30, "pid": os.getpid(),
            "until": until}
    tmp = folder / f".{uuid}.tmp"
    tmp.write_text(json.dumps(load))
    tmp.replace(folder / f"{uuid}.json")


def _clear(folder: Path, uuids: list[str]) -> None:
    for uuid in uuids:
        (folder / f"{uuid}.json").unlink(missing_ok=True)


def train(epochs: int = 10, seconds_per_epoch: float = 3.0, utilization: float = 85.0) -> float:
    """Run ``epochs`` pretend epochs on this server's simulated GPUs; returns the final loss."""
    gpus, folder = visible_gpus(), load_dir()
    if not gpus or folder is None:
        print("This server has no (simulated) GPU: start a GPU profile from the hub's home page.")
        return float("nan")
    folder.mkdir(parents=True, exist_ok=True)
    loss = 2.5
    try:
        for epoch in range(1, epochs + 1):
            for uuid in gpus:
                _write(folder, uuid, utilization, time.time() + FRESH_SECONDS)
            time.sleep(seconds_per_epoch)
            loss = 2.5 * math.exp(-0.35 * epoch)
            print(f"epoch {epoch:>2}/{epochs}  loss {loss:.4f}  on {', '.join(gpus)}", flush=True)
    finally:
        _clear(folder, gpus)
    print("Training done; the GPU is idle now.")
    return loss
