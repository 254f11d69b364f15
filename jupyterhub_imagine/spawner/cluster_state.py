"""Free GPUs per type and MIG slice, from node and pod objects (pure; fed by a list+watch).

free = allocatable of ready, schedulable nodes − requests of the non-terminated pods bound to
them − requests of pods not yet bound that target the type − reservations of spawns in flight.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .placement import is_gpu_resource
from .profiles import GPU_RESOURCE, GPURequest

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
RESERVATION_SECONDS = 120.0


@dataclass(frozen=True)
class NodeInfo:
    product: str
    allocatable: Mapping[str, int]
    usable: bool


@dataclass(frozen=True)
class PodInfo:
    node: str
    product: str  # the product a pending pod asks for through its node selector
    requests: Mapping[str, int]


@dataclass(frozen=True)
class Capacity:
    free: int
    total: int
    most_on_one_node: int


def _int(quantity: Any) -> int:
    try:
        return int(str(quantity))
    except ValueError:
        return 0  # GPU resources are whole numbers; anything else is not ours to count


def node_info(obj: Mapping[str, Any], product_label: str) -> NodeInfo:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    allocatable = {
        k: _int(v) for k, v in (status.get("allocatable") or {}).items() if is_gpu_resource(k)
    }
    conditions = status.get("conditions") or []
    ready = all(c.get("status") == "True" for c in conditions if c.get("type") == "Ready")
    product = (meta.get("labels") or {}).get(product_label, "")
    return NodeInfo(product, allocatable, ready and not spec.get("unschedulable"))


def pod_requests(obj: Mapping[str, Any]) -> dict[str, int]:
    """GPU requests of a pod as the scheduler counts them: sum of containers, max with inits."""
    spec = obj.get("spec") or {}

    def of(container: Mapping[str, Any]) -> Counter[str]:
        res = container.get("resources") or {}
        wanted = dict(res.get("limits") or {}, **(res.get("requests") or {}))
        return Counter({k: _int(v) for k, v in wanted.items() if is_gpu_resource(k)})

    total: Counter[str] = Counter()
    for c in spec.get("containers") or []:
        total.update(of(c))
    for c in spec.get("initContainers") or []:
        for k, v in of(c).items():
            total[k] = max(total[k], v)
    return {k: v for k, v in total.items() if v}


def pod_info(obj: Mapping[str, Any], product_label: str) -> PodInfo | None:
    """What a pod holds, or None when it holds nothing (no GPU, or finished)."""
    if (obj.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return None
    requests = pod_requests(obj)
    if not requests:
        return None
    spec = obj.get("spec") or {}
    product = (spec.get("nodeSelector") or {}).get(product_label, "")
    return PodInfo(spec.get("nodeName") or "", product, requests)


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


class ClusterState:
    """Nodes and GPU-holding pods; queries are cached until the next change."""

    def __init__(self, product_label: str = "nvidia.com/gpu.product") -> None:
        self.product_label = product_label
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[str, PodInfo] = {}
        self.reservations: dict[str, tuple[GPURequest, float]] = {}
        # Running sums, kept up to date per event so queries only walk the nodes.
        self._used: dict[str, Counter[str]] = defaultdict(Counter)  # node -> resource -> n
        self._pending: Counter[tuple[str, str]] = Counter()  # (resource, product) -> n
        self._cache: dict[GPURequest, Capacity] = {}

    # ----- updates ------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._cache.clear()

    def replace_nodes(self, objs: Iterable[Mapping[str, Any]]) -> None:
        self.nodes = {o["metadata"]["name"]: node_info(o, self.product_label) for o in objs}
        self._changed()

    def apply_node(self, event: str, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event == "DELETED":
            self.nodes.pop(name, None)
        else:
            self.nodes[name] = node_info(obj, self.product_label)
        self._changed()

    def replace_pods(self, objs: Iterable[Mapping[str, Any]]) -> None:
        self.pods, self._used, self._pending = {}, defaultdict(Counter), Counter()
        for obj in objs:
            self._set_pod(object_key(obj), pod_info(obj, self.product_label))
        self._changed()

    def apply_pod(self, event: str, obj: Mapping[str, Any]) -> None:
        info = None if event == "DELETED" else pod_info(obj, self.product_label)
        self._set_pod(object_key(obj), info)
        self._changed()

    def _set_pod(self, key: str, info: PodInfo | None) -> None:
        self.reservations.pop(key, None)  # the pod itself is counted from now on
        old = self.pods.pop(key, None)
        if old is not None:
            self._count(old, -1)
        if info is not None:
            self.pods[key] = info
            self._count(info, 1)

    def _count(self, pod: PodInfo, sign: int) -> None:
        for resource, n in pod.requests.items():
            if pod.node:
                self._used[pod.node][resource] += sign * n
            else:
                self._pending[(resource, pod.product)] += sign * n

    def reserve(self, key: str, gpu: GPURequest, now: float) -> None:
        """Count a spawn in flight until its pod shows up (or the reservation expires)."""
        self.reservations[key] = (gpu, now + RESERVATION_SECONDS)
        self._changed()

    def unreserve(self, key: str) -> None:
        if self.reservations.pop(key, None):
            self._changed()

    def expire(self, now: float) -> None:
        stale = [k for k, (_, until) in self.reservations.items() if until < now]
        for k in stale:
            del self.reservations[k]
        if stale:
            self._changed()

    # ----- queries ------------------------------------------------------------------------------
    def _matches(self, gpu: GPURequest, resource: str, product: str) -> bool:
        if resource != gpu.resource:
            return False
        return bool(gpu.mig) or not gpu.type or product == gpu.type

    def capacity(self, gpu: GPURequest) -> Capacity:
        """Free, total and the most free on one node, for the resource and type of ``gpu``."""
        key = GPURequest(1, gpu.type, gpu.mig)
        if key not in self._cache:
            self._cache[key] = self._compute(key)
        return self._cache[key]

    def _compute(self, gpu: GPURequest) -> Capacity:
        # A pending pod or reservation without a type may land on any type: it counts against
        # untyped profiles only, so it never makes a typed profile look full.
        pending = sum(
            n for (res, product), n in self._pending.items() if self._matches(gpu, res, product)
        )
        pending += sum(
            r.count for r, _ in self.reservations.values() if self._matches(gpu, r.resource, r.type)
        )
        total = free = best = 0
        for name, node in self.nodes.items():
            have = node.allocatable.get(gpu.resource, 0)
            if not have or not node.usable or not self._matches(gpu, gpu.resource, node.product):
                continue
            total += have
            used = self._used.get(name)
            left = max(have - (used[gpu.resource] if used else 0), 0)
            free += left
            best = max(best, left)
        free = max(free - pending, 0)
        return Capacity(free, total, min(best, free))

    def refusal(self, gpu: GPURequest, what: str) -> str | None:
        """Why a pod asking for ``gpu`` cannot be placed now, or None when it can."""
        if not gpu.is_gpu:
            return None
        cap = self.capacity(gpu)
        if cap.total == 0:
            return f"No node in the cluster offers {what}; pick another profile."
        if cap.free < gpu.count:
            return (
                f"All {what} are in use ({cap.free} of {cap.total} free, {gpu.count} needed); "
                "try again later or pick another profile."
            )
        if cap.most_on_one_node < gpu.count:
            return (
                f"{cap.free} {what} are free but no node has {gpu.count} of them free together; "
                "try again later or pick a profile with fewer GPUs."
            )
        return None


def unit(gpu: GPURequest) -> str:
    """How the form names what a profile counts: 'NVIDIA-A100 GPUs', '1g.10gb MIG slices'."""
    if gpu.mig:
        return f"{gpu.mig.removeprefix('nvidia.com/mig-')} MIG slices"
    return f"{gpu.type} GPUs" if gpu.type else "GPUs"


__all__ = ["GPU_RESOURCE", "Capacity", "ClusterState", "node_info", "pod_info", "unit"]
