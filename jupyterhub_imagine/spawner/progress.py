"""Spawn progress messages a scientist understands, from Kubernetes pod events (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# event reason -> (stage, progress %)
_STAGES: dict[str, tuple[str, int]] = {
    "FailedScheduling": ("Waiting for a node with a free GPU", 20),
    "TriggeredScaleUp": ("Adding a node to the cluster", 25),
    "NotTriggerScaleUp": ("Waiting for a node with a free GPU", 20),
    "Scheduled": ("Scheduled", 40),
    "Pulling": ("Pulling the image (the first start on a node can take minutes)", 55),
    "Pulled": ("Image ready", 70),
    "Created": ("Starting", 80),
    "Started": ("Starting JupyterLab", 90),
}


def first_message(what: str, capacity_text: str) -> dict[str, Any]:
    """The event shown before Kubernetes reports anything."""
    if capacity_text:
        return {"progress": 5, "message": f"Requesting {what} ({capacity_text})"}
    return {"progress": 5, "message": f"Requesting {what}"}


def describe(event: Mapping[str, Any], is_gpu: bool) -> dict[str, Any] | None:
    """A progress event for one pod event, or None to keep KubeSpawner's own message."""
    reason = str(event.get("reason") or "")
    stage = _STAGES.get(reason)
    if stage is None:
        return None
    text, progress = stage
    if not is_gpu and "GPU" in text:
        text = "Waiting for a node with room for this server"
    detail = str(event.get("message") or "").strip()
    return {"progress": progress, "message": f"{text}: {detail}" if detail else text}
