"""Where a pod may run and which GPUs it asks for, from a profile (pure).

Applied after the profile's own ``kubespawner_override``, so the GPU request of the pod is always
exactly the profile's ``gpu``: a CPU profile never requests a GPU even if an override or the
admin's base config adds one, and a GPU profile requests only its own resource.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .profiles import GPURequest

GPU_RESOURCE_PREFIX = "nvidia.com/"
ANNOTATION_PREFIX = "jupyterhub-imagine/"


def is_gpu_resource(name: str) -> bool:
    return name.startswith(GPU_RESOURCE_PREFIX)


# How CPU pods keep off GPU nodes: "preferred" (a soft node affinity: they still start where
# every node has a GPU), "required" (a hard one), or "off".
AVOID_MODES = ("preferred", "required", "off")


@dataclass(frozen=True)
class PlacementPolicy:
    """``product_label`` "" means no GPU feature discovery: no type selectors, no avoidance."""

    product_label: str = "nvidia.com/gpu.product"
    gpu_tolerations: tuple[Mapping[str, Any], ...] = (
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    )
    cpu_avoid_gpu_nodes: str = "preferred"
    gpu_runtime_class: str = ""


@dataclass
class PodTraits:
    """The KubeSpawner traits placement reads and replaces."""

    extra_resource_limits: dict[str, Any] = field(default_factory=dict)
    extra_resource_guarantees: dict[str, Any] = field(default_factory=dict)
    node_selector: dict[str, Any] = field(default_factory=dict)
    tolerations: list[Any] = field(default_factory=list)
    node_affinity_required: list[Any] = field(default_factory=list)
    node_affinity_preferred: list[Any] = field(default_factory=list)
    extra_pod_config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    extra_annotations: dict[str, Any] = field(default_factory=dict)


def _without_gpus(resources: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if not is_gpu_resource(k)}


def _is_gpu_toleration(toleration: Any, policy: PlacementPolicy) -> bool:
    key = toleration.get("key", "") if isinstance(toleration, Mapping) else ""
    return is_gpu_resource(key) or toleration in policy.gpu_tolerations


def _avoid_label(terms: Sequence[Any], label: str) -> list[Any]:
    """Add ``label DoesNotExist`` to every node selector term (terms are ORed, so to each)."""
    expr = {"key": label, "operator": "DoesNotExist"}
    if not terms:
        return [{"matchExpressions": [expr]}]
    result = []
    for term in terms:
        term = copy.deepcopy(dict(term))
        exprs = [e for e in term.get("matchExpressions") or [] if e.get("key") != label]
        term["matchExpressions"] = [*exprs, expr]
        result.append(term)
    return result


def _avoid_preferred(terms: Sequence[Any], label: str) -> list[Any]:
    """A soft preference for nodes without ``label`` (replacing an earlier one of ours)."""
    expr = {"key": label, "operator": "DoesNotExist"}
    kept = [t for t in terms if (t.get("preference") or {}).get("matchExpressions") != [expr]]
    return [*kept, {"weight": 100, "preference": {"matchExpressions": [expr]}}]


def _runtime_class(pod_config: Mapping[str, Any], gpu: bool, policy: PlacementPolicy) -> dict:
    """GPU pods get ``gpu_runtime_class``; CPU pods lose it (they need no NVIDIA runtime)."""
    config = dict(pod_config)
    if not policy.gpu_runtime_class:
        return config
    if gpu:
        config["runtimeClassName"] = policy.gpu_runtime_class
    elif config.get("runtimeClassName") == policy.gpu_runtime_class:
        config.pop("runtimeClassName")
    return config


def place(
    gpu: GPURequest, current: PodTraits, policy: PlacementPolicy, slug: str, deadline: float = 0
) -> PodTraits:
    """The traits for a pod of profile ``slug`` requesting ``gpu``, starting from ``current``."""
    limits = _without_gpus(current.extra_resource_limits)
    guarantees = _without_gpus(current.extra_resource_guarantees)
    label = policy.product_label
    selector = {k: v for k, v in current.node_selector.items() if not label or k != label}
    tolerations = [t for t in current.tolerations if not _is_gpu_toleration(t, policy)]
    affinity = list(current.node_affinity_required)
    preferred = list(current.node_affinity_preferred)
    pod_config = _runtime_class(current.extra_pod_config, gpu.is_gpu, policy)
    env = dict(current.environment, JUPYTERHUB_IMAGINE_PROFILE=slug)
    annotations = dict(current.extra_annotations)
    annotations[f"{ANNOTATION_PREFIX}profile"] = slug
    annotations[f"{ANNOTATION_PREFIX}gpus"] = str(gpu.count)
    env.pop("JUPYTERHUB_IMAGINE_GPU_DEADLINE", None)
    annotations.pop(f"{ANNOTATION_PREFIX}gpu-deadline", None)
    if gpu.is_gpu:
        # Extended resources: Kubernetes requires requests == limits, both integers.
        limits[gpu.resource] = str(gpu.count)
        guarantees[gpu.resource] = str(gpu.count)
        if gpu.type and not gpu.mig and label:
            selector[label] = gpu.type
        tolerations += [dict(t) for t in policy.gpu_tolerations]
        env.pop("NVIDIA_VISIBLE_DEVICES", None)
        if deadline:
            env["JUPYTERHUB_IMAGINE_GPU_DEADLINE"] = str(int(deadline))
            annotations[f"{ANNOTATION_PREFIX}gpu-deadline"] = str(int(deadline))
    else:
        # CUDA images set NVIDIA_VISIBLE_DEVICES=all; "void" keeps the runtime from exposing GPUs
        # to a pod that landed on a GPU node anyway.
        env["NVIDIA_VISIBLE_DEVICES"] = "void"
        if label and policy.cpu_avoid_gpu_nodes == "required":
            affinity = _avoid_label(affinity, label)
        elif label and policy.cpu_avoid_gpu_nodes == "preferred":
            preferred = _avoid_preferred(preferred, label)
    return PodTraits(limits, guarantees, selector, tolerations, affinity, preferred, pod_config,
                     env, annotations)
