"""FAKE Kubernetes API server on loopback: list + watch for nodes, pods and events.

No Kubernetes can run on the test machines, so this small aiohttp app stands in for the API
server. It speaks the parts of the protocol our code and KubeSpawner use: list with a
``resourceVersion``, ``watch=true`` streams of JSON lines from a resourceVersion (``410 Gone``
once history is compacted), ``timeoutSeconds``, and create/get/delete of namespaced pods. It
ignores label and field selectors (callers must cope with extra objects, as they should).
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

KINDS = {"nodes": "Node", "pods": "Pod", "events": "Event"}


class FakeKubeAPI:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []
        self.rv = 100
        self.compacted = 0  # watches from a resourceVersion below this get 410 Gone
        self.generation = 0  # bumped to end every open watch
        self.requests: Counter[str] = Counter()  # "list nodes", "watch pods", ...
        self.created_pods: list[dict[str, Any]] = []
        self.auto_run_pods = True
        self._changed = asyncio.Condition()
        self.url = ""

    # ----- state changes used by tests -------------------------------------------------------
    def _key(self, obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return f"{meta.get('namespace', '')}/{meta['name']}"

    async def put(self, kind: str, obj: dict[str, Any], event: str = "",
                  record: bool = True) -> dict[str, Any]:
        """Create or replace an object; ``record=False``: no watch event (lost to compaction)."""
        obj = copy.deepcopy(obj)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        obj["metadata"].setdefault("uid", str(uuid.uuid4()))
        key = self._key(obj)
        event = event or ("MODIFIED" if key in self.objects[kind] else "ADDED")
        self.objects[kind][key] = obj
        if record:
            self.history.append((self.rv, kind, event, obj))
        async with self._changed:
            self._changed.notify_all()
        return obj

    async def delete(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects[kind].pop(f"{namespace}/{name}", None)
        if obj is not None:
            self.rv += 1
            obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=str(self.rv)))
            self.history.append((self.rv, kind, "DELETED", obj))
            async with self._changed:
                self._changed.notify_all()
        return obj

    async def compact(self) -> None:
        """Forget history, as etcd compaction does, and drop open watches: clients resuming
        from an older resourceVersion get 410 Gone."""
        self.compacted = self.rv
        self.history = []
        self.generation += 1
        async with self._changed:
            self._changed.notify_all()

    # ----- HTTP ------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/{kind:nodes|pods|events}", self.list_or_watch)
        app.router.add_get("/api/v1/namespaces/{ns}/{kind:pods|events}", self.list_or_watch)
        app.router.add_post("/api/v1/namespaces/{ns}/pods", self.create_pod)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", self.get_pod)
        app.router.add_delete("/api/v1/namespaces/{ns}/pods/{name}", self.delete_pod)
        return app

    def _visible(self, kind: str, ns: str | None, obj: dict[str, Any]) -> bool:
        return ns is None or obj["metadata"].get("namespace") == ns

    async def list_or_watch(self, request: web.Request) -> web.StreamResponse:
        kind, ns = request.match_info["kind"], request.match_info.get("ns")
        if request.query.get("watch") in ("true", "1", "True"):
            return await self._watch(request, kind, ns)
        self.requests[f"list {kind}"] += 1
        items = [o for o in self.objects[kind].values() if self._visible(kind, ns, o)]
        return web.json_response({
            "kind": f"{KINDS[kind]}List", "apiVersion": "v1",
            "metadata": {"resourceVersion": str(self.rv)}, "items": items,
        })

    async def _watch(self, request: web.Request, kind: str, ns: str | None) -> web.StreamResponse:
        self.requests[f"watch {kind}"] += 1
        since = int(request.query.get("resourceVersion") or self.rv)
        timeout = float(request.query.get("timeoutSeconds") or 300)
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        if since < self.compacted:
            gone = {"kind": "Status", "code": 410, "reason": "Expired",
                    "message": f"too old resource version: {since}"}
            await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            return response
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        generation = self.generation
        while loop.time() < deadline and generation == self.generation:
            for rv, k, event, obj in list(self.history):
                if rv > since and k == kind and self._visible(kind, ns, obj):
                    line = json.dumps({"type": event, "object": obj}) + "\n"
                    await response.write(line.encode())
                since = max(since, rv)
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
                except asyncio.TimeoutError:
                    break
        return response

    async def create_pod(self, request: web.Request) -> web.Response:
        body = await request.json()
        ns = request.match_info["ns"]
        self.created_pods.append(copy.deepcopy(body))
        body["metadata"]["namespace"] = ns
        body["status"] = {"phase": "Pending"}
        pod = await self.put("pods", body)
        if self.auto_run_pods:
            asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(
                self.run_pod(ns, body["metadata"]["name"])))
        return web.json_response(pod, status=201)

    async def run_pod(self, ns: str, name: str) -> None:
        pod = self.objects["pods"].get(f"{ns}/{name}")
        if pod is None:
            return
        pod = copy.deepcopy(pod)
        pod["spec"]["nodeName"] = pod["spec"].get("nodeName") or "node-fake"
        pod["status"] = {
            "phase": "Running", "podIP": "127.0.0.1",
            "containerStatuses": [{
                "name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
                "restartCount": 0, "started": True,
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            } for c in pod["spec"]["containers"]],
        }
        await self.put("pods", pod)

    async def get_pod(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['ns']}/{request.match_info['name']}"
        pod = self.objects["pods"].get(key)
        if pod is None:
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"},
                                     status=404)
        return web.json_response(pod)

    async def delete_pod(self, request: web.Request) -> web.Response:
        pod = await self.delete("pods", request.match_info["ns"], request.match_info["name"])
        if pod is None:
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"},
                                     status=404)
        return web.json_response(pod)


def node(name: str, product: str = "", gpus: int = 0, mig: dict[str, int] | None = None,
         ready: bool = True, unschedulable: bool = False) -> dict[str, Any]:
    allocatable: dict[str, str] = {"cpu": "64", "memory": "512Gi"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    allocatable.update({k: str(v) for k, v in (mig or {}).items()})
    labels = {"kubernetes.io/hostname": name}
    if product:
        labels["nvidia.com/gpu.product"] = product
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(name: str, node_name: str = "", gpus: dict[str, int] | None = None, phase: str = "Running",
        namespace: str = "research", product: str = "") -> dict[str, Any]:
    limits = {k: str(v) for k, v in (gpus or {}).items()}
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "x",
                                            "resources": {"limits": limits}}]}
    if node_name:
        spec["nodeName"] = node_name
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec,
            "status": {"phase": phase}}


def event(pod_name: str, reason: str, message: str, namespace: str, n: int) -> dict[str, Any]:
    stamp = f"2026-01-01T00:00:{n:02d}Z"
    return {
        "metadata": {"name": f"{pod_name}.{n}", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": namespace},
        "reason": reason, "message": message, "type": "Normal",
        "lastTimestamp": stamp, "firstTimestamp": stamp, "eventTime": None,
    }


@asynccontextmanager
async def serve_fake(tmp: Path) -> AsyncIterator[FakeKubeAPI]:
    """Run the FAKE on 127.0.0.1 and point a kubeconfig at it (``fake.kubeconfig``)."""
    fake = FakeKubeAPI()
    runner = web.AppRunner(fake.app(), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    fake.kubeconfig = tmp / "kubeconfig"  # type: ignore[attr-defined]
    fake.kubeconfig.write_text(json.dumps({  # type: ignore[attr-defined]
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }))
    try:
        yield fake
    finally:
        await runner.cleanup()
