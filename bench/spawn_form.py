"""Spawn-form render time with live availability for 1,000 GPU nodes and 10,000 pods.

Prints p50/p95 of ImagineKubeSpawner's form, rendered by its Jinja2 template (availability from
the same ClusterState the watcher keeps; a pod event lands before every render, so no cached
figure is reused), the template's own share, and the ratio to stock KubeSpawner rendering its own
form for the same profile list. Targets: p95 < 50 ms, ratio <= 1.5. No Kubernetes API is
contacted: the cluster is generated, as a list would return it.

    python bench/spawn_form.py [--renders 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from traitlets.config import Config

from jupyterhub_imagine.spawner import availability
from jupyterhub_imagine.spawner.form import Availability
from jupyterhub_imagine.spawner.kube import ImagineKubeSpawner
from jupyterhub_imagine.spawner.placement import PlacementPolicy, PodTraits, place
from jupyterhub_imagine.spawner.profiles import parse_profiles
from jupyterhub_imagine.upstream.kubespawner import offline

LABEL = "nvidia.com/gpu.product"
TYPES = ["NVIDIA-A100-SXM4-40GB", "NVIDIA-H100-80GB-HBM3", "NVIDIA-L40S"]
MIG = "nvidia.com/mig-1g.10gb"
IMAGES = {
    "display_name": "Image",
    "choices": {
        "torch": {"display_name": "PyTorch", "kubespawner_override": {"image": "quay.io/x/torch"}},
        "tf": {"display_name": "TensorFlow", "kubespawner_override": {"image": "quay.io/x/tf"}},
    },
}
PROFILES: list[dict[str, Any]] = [
    {"display_name": "CPU", "slug": "cpu", "default": True, "profile_options": {"image": IMAGES}},
    *(
        {
            "display_name": f"{n} × {t}",
            "slug": f"gpu{n}-{i}",
            "requires": ["gpu"],
            "gpu": {"count": n, "type": t},
            "profile_options": {"image": IMAGES},
        }
        for i, t in enumerate(TYPES)
        for n in (1, 2)
    ),
    {"display_name": "MIG 1g.10gb", "slug": "mig", "requires": ["gpu"], "gpu": {"mig": MIG}},
]


def cluster(nodes: int, pods: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    node_objs = []
    for i in range(nodes):
        mig = i % 10 == 9
        alloc = {MIG: "7"} if mig else {"nvidia.com/gpu": "8"}
        node_objs.append(
            {
                "metadata": {"name": f"gpu-{i}", "labels": {LABEL: TYPES[i % len(TYPES)]}},
                "spec": {},
                "status": {
                    "allocatable": {"cpu": "128", **alloc},
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
        )
    pod_objs = []
    for j in range(pods):
        i = j % nodes
        resource = MIG if i % 10 == 9 else "nvidia.com/gpu"
        limits = {resource: "1"} if j % 3 else {"cpu": "2"}  # a third are CPU pods
        pod_objs.append(
            {
                "metadata": {"name": f"p{j}", "namespace": f"ns{j % 50}"},
                "spec": {
                    "nodeName": f"gpu-{i}",
                    "containers": [{"name": "c", "resources": {"limits": limits}}],
                },
                "status": {"phase": "Running"},
            }
        )
    return node_objs, pod_objs


def stock_profiles() -> list[dict[str, Any]]:
    """The same list in stock KubeSpawner's terms: GPU requests spelled as overrides."""
    result = []
    for p in parse_profiles(PROFILES):
        traits = place(p.gpu, PodTraits(), PlacementPolicy(), p.slug)
        raw = {k: v for k, v in p.raw.items() if k not in ("gpu", "requires")}
        raw["kubespawner_override"] = {
            "extra_resource_limits": traits.extra_resource_limits,
            "node_selector": traits.node_selector,
        }
        result.append(raw)
    return result


def percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1000, q[94] * 1000


async def main(renders: int, nodes: int, pods: int) -> None:
    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "kubeconfig").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "bench",
                "clusters": [{"name": "bench", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "bench", "user": {}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
            }
        )
    )
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(tmp / "kubeconfig")
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", groups=[])

    async def auth_state() -> dict[str, Any]:
        return {"imagine": {"capabilities": ["gpu"]}}

    user.get_auth_state = auth_state
    c = Config()
    c.ImagineKubeSpawner.profile_list = PROFILES
    ours = offline(ImagineKubeSpawner, user=user, config=c)

    node_objs, pod_objs = cluster(nodes, pods)
    started = time.perf_counter()
    watcher = availability.ClusterWatcher(ours.api, LABEL)
    watcher.state.replace_nodes(node_objs)
    watcher.state.replace_pods(pod_objs)
    load_s = time.perf_counter() - started
    # Stand in for a synced watch: the state above is what the list calls return.
    for event in watcher._synced.values():
        event.set()
    watcher._tasks = [asyncio.create_task(asyncio.sleep(3600))]
    availability._SHARED[(id(asyncio.get_running_loop()), id(ours.api), LABEL)] = watcher

    stock_list = stock_profiles()
    # A callable profile_list: KubeSpawner renders its form at every get_options_form() call,
    # as ours does (a plain list would be rendered once, when the hub first asks).
    stock = offline(KubeSpawner, user=user, profile_list=lambda spawner: stock_list)

    ours_t, stock_t = [], []
    for k in range(renders):
        watcher.state.apply_pod("MODIFIED", pod_objs[k % len(pod_objs)])  # invalidate caches
        t0 = time.perf_counter()
        form = await ours.get_options_form()
        ours_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        stock_form = await stock.get_options_form()
        stock_t.append(time.perf_counter() - t0)
    assert "free" in form and 'name="profile"' in stock_form
    p50, p95 = percentiles(ours_t)
    s50, s95 = percentiles(stock_t)
    print(f"cluster: {nodes} GPU nodes, {pods} pods (state built in {load_s * 1000:.0f} ms)")
    print(f"profiles: {len(PROFILES)}; renders: {renders}")
    print(f"imagine form with availability: p50 {p50:.2f} ms  p95 {p95:.2f} ms  (target p95 < 50)")
    print(f"stock KubeSpawner form:         p50 {s50:.2f} ms  p95 {s95:.2f} ms")
    print(f"ratio imagine/stock: p50 {p50 / s50:.2f}  p95 {p95 / s95:.2f}  (target <= 1.5)")
    parsed = parse_profiles(PROFILES)
    avail = {p.slug: Availability(3, 8, "GPUs") for p in parsed if p.gpu.is_gpu}
    t0 = time.perf_counter()
    for _ in range(renders):
        ours.render_form(parsed, avail, {parsed[-1].slug: "full"}, "cpu")
    template_us = (time.perf_counter() - t0) / renders * 1e6
    print(f"of which the Jinja2 template alone: {template_us:.0f} µs per render")
    sample = next(line for line in form.split("<label") if "free" in line)
    print("sample:", sample.split('imagine-availability">')[1].split("<")[0])
    watcher._tasks[0].cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=300)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.renders, args.nodes, args.pods))
