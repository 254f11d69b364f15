"""Per-server record of the idle-GPU culler contract: presence, warning, "keep" and GPU peaks.

No HTTP here: the extension app stores one :class:`CullingState` in
``web_app.settings["imagine_culling"]``; ``handlers.py`` serves it and ``presence.py`` feeds it
with what a person does through the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

from ...contract import PRESENCE_KINDS, Activity, ContractError, CullWarning

log = logging.getLogger(__name__)

# presence the server itself sees (presence.py), from any client
SERVER_PRESENCE_KINDS = frozenset({"execute", "save", "terminal"})
SETTINGS_KEY = "imagine_culling"


class CullingError(Exception):
    """An answer the server gives with a 4xx status and a message telling what to do."""

    status = 400
    reason = "bad-request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoPendingWarning(CullingError):
    status = 409
    reason = "no-warning"


class NoPostponementsLeft(CullingError):
    status = 409
    reason = "no-postponements-left"


class InvalidWarning(CullingError):
    status = 400
    reason = "invalid-warning"


def validate_warning(body: object) -> dict[str, Any]:
    """Check a warning PUT by the culler (the contract's CullWarning) and return it as JSON."""
    try:
        warning = CullWarning.parse(body)
    except ContractError as e:
        raise InvalidWarning(str(e)) from None
    return {**warning.to_json(), "keep_requested_at": None}


class Sampler(Protocol):
    async def sample(self) -> dict[str, Any]: ...


UtilKey = tuple[object, int]  # (device index, MIG position; -1 for the device itself)


def utilizations(gpu: dict[str, Any]) -> dict[UtilKey, float]:
    """Utilization per device and MIG instance in one GPU sample (numbers only)."""
    out: dict[UtilKey, float] = {}
    for pos, device in enumerate(gpu.get("gpus") or []):
        index = device.get("index", pos)
        items = [(-1, device), *enumerate(device.get("mig") or [])]
        for mig, item in items:
            value = item.get("utilization") if isinstance(item, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[(index, mig)] = float(value)
    return out


def merge_peaks(gpu: dict[str, Any], peaks: dict[UtilKey, float]) -> dict[str, Any]:
    """A copy of ``gpu`` whose utilizations are raised to the peaks seen since the last read."""
    devices = []
    for pos, device in enumerate(gpu.get("gpus") or []):
        device = dict(device)
        index = device.get("index", pos)
        if isinstance(device.get("utilization"), (int, float)) and (index, -1) in peaks:
            device["utilization"] = max(device["utilization"], peaks[(index, -1)])
        migs = []
        for i, mig in enumerate(device.get("mig") or []):
            mig = dict(mig)
            if isinstance(mig.get("utilization"), (int, float)) and (index, i) in peaks:
                mig["utilization"] = max(mig["utilization"], peaks[(index, i)])
            migs.append(mig)
        if "mig" in device:
            device["mig"] = migs
        devices.append(device)
    return {**gpu, "gpus": devices}


class CullingState:
    """Per-server record of presence, of the culler's pending warning and of GPU peaks.

    ``culler_services``: hub service names allowed to set warnings (empty: any hub service).
    ``clock``: seconds since the epoch, injectable for tests.
    ``sample_every``: seconds between background GPU samples whose peak the next activity read
    reports, so short GPU bursts between two culler cycles are not taken for idleness (0: off).
    """

    def __init__(
        self,
        *,
        culler_services: Collection[str] = (),
        clock: Callable[[], float] = time.time,
        sample_every: float = 10.0,
    ) -> None:
        self.culler_services = frozenset(culler_services)
        self.clock = clock
        self.sample_every = sample_every
        self.last_presence: float | None = None
        self.last_presence_kind: str | None = None
        self.keep_requested_at: float | None = None
        self._warning: dict[str, Any] | None = None
        self._peaks: dict[UtilKey, float] = {}
        self._peaks_since: float | None = None
        self._sampling: asyncio.Task[None] | None = None

    # -- GPU peaks between two culler reads ------------------------------------------------

    def start_sampling(self, sampler: Sampler) -> None:
        """Sample the GPU every ``sample_every`` seconds in the background (idempotent).

        Needs a running event loop; the activity endpoint also starts it on first use.
        """
        if self.sample_every <= 0 or (self._sampling is not None and not self._sampling.done()):
            return
        self._sampling = asyncio.get_running_loop().create_task(self._sample_loop(sampler))

    def stop_sampling(self) -> None:
        if self._sampling is not None:
            self._sampling.cancel()
            self._sampling = None

    async def _sample_loop(self, sampler: Sampler) -> None:
        while True:
            await asyncio.sleep(self.sample_every)
            try:
                self.note_sample(await sampler.sample())
            except Exception as e:  # noqa: BLE001 - a failed sample is just not a peak
                log.debug("Background GPU sample failed: %s", e)

    def note_sample(self, gpu: dict[str, Any]) -> None:
        """Keep the highest utilization per device/MIG instance until the next read."""
        if self._peaks_since is None:
            self._peaks_since = self.clock()
        for key, value in utilizations(gpu).items():
            self._peaks[key] = max(value, self._peaks.get(key, value))

    def take_peaks(self, gpu: dict[str, Any]) -> dict[str, Any]:
        """``gpu`` with utilizations raised to the peaks since the last read; resets them."""
        merged = merge_peaks(gpu, self._peaks) if self._peaks else dict(gpu)
        if self._peaks_since is not None:
            merged["peak_since"] = self._peaks_since
        self._peaks = {}
        self._peaks_since = self.clock()
        return merged

    def record_presence(self, kind: str) -> float:
        """Record a real interaction of a person with the page."""
        if not isinstance(kind, str) or kind not in PRESENCE_KINDS:
            raise CullingError(
                f"presence 'kind' must be one of {sorted(PRESENCE_KINDS)}, got {repr(kind)[:40]}"
            )
        self.last_presence = self.clock()
        self.last_presence_kind = kind
        return self.last_presence

    def record_server_presence(self, kind: str) -> float:
        """Record what a person did through the server (an execute request, a save)."""
        if kind not in SERVER_PRESENCE_KINDS:
            raise ValueError(f"server presence kind must be one of {sorted(SERVER_PRESENCE_KINDS)}")
        self.last_presence = self.clock()
        self.last_presence_kind = kind
        return self.last_presence

    def may_set_warning(self, hub_user: dict[str, Any] | None) -> bool:
        """Whether this hub identity is the culler service."""
        if not hub_user or hub_user.get("kind") != "service":
            return False
        return not self.culler_services or hub_user.get("name") in self.culler_services

    def set_warning(self, body: object) -> dict[str, Any]:
        """Store the culler's warning (replacing any earlier one)."""
        self._warning = validate_warning(body)
        return self.warning_payload() or {}

    def clear_warning(self) -> None:
        self._warning = None

    def request_keep(self) -> dict[str, Any]:
        """The user answers "keep my GPU"; the culler applies it on its next cycle.

        Repeated answers before the culler has seen the first one count once.
        """
        warning = self._warning
        if warning is None:
            raise NoPendingWarning("There is no pending GPU warning to answer.")
        if warning["keep_requested_at"] is not None:
            return self.warning_payload() or {}
        if warning["postponements_left"] <= 0:
            raise NoPostponementsLeft(
                "This server has used all its postponements: save your work; the GPU will be "
                "released at the time shown. Start a new server when you need a GPU again."
            )
        now = self.clock()
        self.keep_requested_at = now
        warning["keep_requested_at"] = now
        warning["postponements_left"] -= 1
        warning["stop_at"] = max(warning["stop_at"], now + warning["postpone_by"])
        return self.warning_payload() or {}

    def warning_payload(self) -> dict[str, Any] | None:
        """The pending warning as the labextension shows it, or None."""
        return dict(self._warning) if self._warning is not None else None

    def activity_payload(self, gpu: dict[str, Any]) -> dict[str, Any]:
        """What GET activity answers to the culler.

        ``now`` is this server's clock: the culler uses ages, not absolute times, so clock
        skew between nodes does not move presence or "keep" answers.
        """
        gpu = self.take_peaks({k: v for k, v in gpu.items() if k != "warning"})
        now = self.clock()
        sampled_at = gpu.get("sampled_at")
        if isinstance(sampled_at, (int, float)) and self.clock is not time.time:
            # the sampler stamps with the wall clock: keep the sample's age on our clock
            gpu["sampled_at"] = now - max(time.time() - sampled_at, 0.0)
        warning = self._warning
        return Activity(
            now=now,
            gpu=gpu,
            last_presence=self.last_presence,
            keep_requested_at=self.keep_requested_at,
            warning=CullWarning.parse(warning) if warning is not None else None,
        ).to_json()
