"""FAKE Kubernetes API of the emulated cluster: tests/spawner's FakeKubeAPI, plus a scheduler,
a kubelet that runs pods as processes, and the objects KubeSpawner and the hub write besides
pods (Secrets, ConfigMaps, PersistentVolumeClaims).

Scheduling: a pod goes to the first Ready, schedulable node whose labels match its
``nodeSelector`` and required node affinity, and whose allocatable ``nvidia.com/*`` resources
the pods already there leave room for; else it stays Pending with a FailedScheduling event.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import traceback
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.spawner.fake_kube import FakeKubeAPI, event

from .kubelet import Kubelet, PodProcess
from .network import Network

STORED = {"secrets": "Secret", "configmaps": "ConfigMap",
          "persistentvolumeclaims": "PersistentVolumeClaim"}
NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
             "reason": "NotFound"}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    return {
        "In": key in labels and labels[key] in values,
        "NotIn": labels.get(key) not in values,
        "Exists": key in labels,
        "DoesNotExist": key not in labels,
    }.get(op, False)


def fits(pod: dict[str, Any], node: dict[str, Any], used: dict[str, int]) -> bool:
    """Whether ``pod`` may run on ``node`` (labels, readiness, free extended resources)."""
    labels = node["metadata"].get("labels") or {}
    spec = pod["spec"]
    if node.get("spec", {}).get("unschedulable"):
        return False
    if not any(c["type"] == "Ready" and c["status"] == "True"
               for c in node["status"].get("conditions") or []):
        return False
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = affinity.get("nodeSelectorTerms") or []
    if terms and not any(all(_matches(e, labels) for e in t.get("matchExpressions") or [])
                         for t in terms):
        return False
    allocatable = node["status"].get("allocatable") or {}
    for container in spec["containers"]:
        for name, value in ((container.get("resources") or {}).get("limits") or {}).items():
            taken = used.get(name, 0) + int(value)
            if name.startswith("nvidia.com/") and taken > int(allocatable.get(name, 0)):
                return False
    return True


class ClusterAPI(FakeKubeAPI):
    """FakeKubeAPI whose pods are scheduled and run by a FAKE kubelet (see module doc)."""

    def __init__(self, base: Path, net: Network) -> None:
        super().__init__()
        for kind in STORED:
            self.objects[kind] = {}
        self.net = net
        self.kubelet = Kubelet(base / "pods", self.objects)
        self.running: dict[str, PodProcess] = {}
        self.max_grace = 5.0
        self._events = 0
        self._tasks: set[asyncio.Future[Any]] = set()
        self.errors: list[str] = []

    def app(self) -> web.Application:
        app = super().app()
        for kind in STORED:
            base = f"/api/v1/namespaces/{{ns}}/{kind}"
            app.router.add_get(base, self.list_stored)
            app.router.add_post(base, self.create_stored)
            app.router.add_get(base + "/{name}", self.get_stored)
            app.router.add_put(base + "/{name}", self.replace_stored)
            app.router.add_delete(base + "/{name}", self.delete_stored)
        return app

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        """Keep what went wrong in the FAKE control plane, for failure messages."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.errors.append("".join(traceback.format_exception(error)))

    # ----- Secrets, ConfigMaps, PVCs ----------------------------------------------------------
    @staticmethod
    def _kind(request: web.Request) -> str:
        return request.path.split("/")[5]

    async def list_stored(self, request: web.Request) -> web.Response:
        kind, ns = self._kind(request), request.match_info["ns"]
        items = [o for k, o in self.objects[kind].items() if k.startswith(f"{ns}/")]
        return web.json_response({"kind": f"{STORED[kind]}List", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": str(self.rv)}, "items": items})

    async def create_stored(self, request: web.Request) -> web.Response:
        kind, ns = self._kind(request), request.match_info["ns"]
        body = await request.json()
        body["metadata"]["namespace"] = ns
        if self._key(body) in self.objects[kind]:
            return web.json_response({**NOT_FOUND, "code": 409, "reason": "AlreadyExists"},
                                     status=409)
        if kind == "persistentvolumeclaims":
            body["status"] = {"phase": "Bound"}
        obj = await self.put(kind, body, record=False)
        self.requests[f"create {kind}"] += 1
        return web.json_response(obj, status=201)

    async def get_stored(self, request: web.Request) -> web.Response:
        kind = self._kind(request)
        obj = self.objects[kind].get(f"{request.match_info['ns']}/{request.match_info['name']}")
        if obj is None:
            return web.json_response(NOT_FOUND, status=404)
        return web.json_response(obj)

    async def replace_stored(self, request: web.Request) -> web.Response:
        kind, ns, name = self._kind(request), request.match_info["ns"], request.match_info["name"]
        if f"{ns}/{name}" not in self.objects[kind]:
            return web.json_response(NOT_FOUND, status=404)
        body = await request.json()
        body["metadata"]["namespace"] = ns
        obj = await self.put(kind, body, record=False)
        self.requests[f"replace {kind}"] += 1
        if kind == "secrets":
            self.kubelet.refresh_secret(ns, name)
        return web.json_response(obj)

    async def delete_stored(self, request: web.Request) -> web.Response:
        kind, ns, name = self._kind(request), request.match_info["ns"], request.match_info["name"]
        obj = self.objects[kind].pop(f"{ns}/{name}", None)
        if obj is None:
            return web.json_response(NOT_FOUND, status=404)
        self.requests[f"delete {kind}"] += 1
        return web.json_response(obj)

    # ----- pods --------------------------------------------------------------------------------
    async def create_pod(self, request: web.Request) -> web.Response:
        body = await request.json()
        ns = request.match_info["ns"]
        if f"{ns}/{body['metadata']['name']}" in self.objects["pods"]:
            return web.json_response({**NOT_FOUND, "code": 409, "reason": "AlreadyExists"},
                                     status=409)
        self.created_pods.append(copy.deepcopy(body))
        body["metadata"].update(namespace=ns, creationTimestamp=_now())
        body["status"] = {"phase": "Pending"}
        pod = await self.put("pods", body)
        self._spawn(self.schedule_and_run(ns, body["metadata"]["name"]))
        return web.json_response(pod, status=201)

    def _used_on(self, node: str) -> dict[str, int]:
        used: dict[str, int] = {}
        for pod in self.objects["pods"].values():
            if pod["spec"].get("nodeName") != node:
                continue
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                continue
            for c in pod["spec"]["containers"]:
                for k, v in ((c.get("resources") or {}).get("limits") or {}).items():
                    if k.startswith("nvidia.com/"):
                        used[k] = used.get(k, 0) + int(v)
        return used

    async def _event(self, pod: dict[str, Any], reason: str, message: str) -> None:
        self._events += 1
        meta = pod["metadata"]
        ev = event(meta["name"], reason, message, meta["namespace"], self._events % 60)
        ev["metadata"]["name"] = f"{meta['name']}.{self._events}"
        ev["involvedObject"]["uid"] = meta.get("uid")
        ev["lastTimestamp"] = ev["firstTimestamp"] = _now()
        await self.put("events", ev)

    async def schedule_and_run(self, ns: str, name: str) -> None:
        pod = copy.deepcopy(self.objects["pods"].get(f"{ns}/{name}"))
        if pod is None:
            return
        node = next((n for n in self.objects["nodes"].values()
                     if fits(pod, n, self._used_on(n["metadata"]["name"]))), None)
        if node is None:
            await self._event(pod, "FailedScheduling", "0 nodes are available (FAKE scheduler)")
            return
        pod["spec"]["nodeName"] = node["metadata"]["name"]
        ip = self.net.pod_ip()
        pod["status"] = {"phase": "Pending", "podIP": ip, "podIPs": [{"ip": ip}],
                         "hostIP": "127.0.0.1",
                         "conditions": [{"type": "PodScheduled", "status": "True"}]}
        pod = await self.put("pods", pod)
        await self._event(pod, "Scheduled", f"Assigned {ns}/{name} to {pod['spec']['nodeName']}")
        running = self.kubelet.start(pod, ip)
        self.running[f"{ns}/{name}"] = running
        await self._event(pod, "Started", "Started container (FAKE kubelet: a local process)")
        exit_code = await self.kubelet.wait_started(running)
        current = self.objects["pods"].get(f"{ns}/{name}")
        if current is None or current["metadata"].get("uid") != pod["metadata"]["uid"]:
            return
        if exit_code is None:
            await self._set_running(current, ip)
            self._spawn(self._watch_exit(ns, name, running))
        else:
            await self._set_terminated(current, exit_code)

    async def _set_running(self, pod: dict[str, Any], ip: str) -> None:
        pod = copy.deepcopy(pod)
        pod["status"].update(phase="Running", podIP=ip, containerStatuses=[{
            "name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
            "restartCount": 0, "started": True, "state": {"running": {"startedAt": _now()}},
        } for c in pod["spec"]["containers"]])
        pod["status"]["conditions"].append({"type": "Ready", "status": "True"})
        await self.put("pods", pod)

    async def _set_terminated(self, pod: dict[str, Any], exit_code: int) -> None:
        pod = copy.deepcopy(pod)
        pod["status"].update(phase="Succeeded" if exit_code == 0 else "Failed",
                             containerStatuses=[{
            "name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
            "restartCount": 0, "started": False,
            "state": {"terminated": {"exitCode": exit_code, "finishedAt": _now()}},
        } for c in pod["spec"]["containers"]])
        await self.put("pods", pod)

    async def _watch_exit(self, ns: str, name: str, running: PodProcess) -> None:
        while running.proc.poll() is None:
            await asyncio.sleep(0.5)
        pod = self.objects["pods"].get(f"{ns}/{name}")
        if pod is not None and "deletionTimestamp" not in pod["metadata"] and \
                self.running.get(f"{ns}/{name}") is running:
            await self._set_terminated(pod, running.proc.returncode)

    async def delete_pod(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self.objects["pods"].get(f"{ns}/{name}")
        if pod is None:
            return web.json_response(NOT_FOUND, status=404)
        if "deletionTimestamp" in pod["metadata"]:
            return web.json_response(pod)
        body = json.loads(await request.text() or "{}")
        grace = request.query.get("gracePeriodSeconds") or body.get("gracePeriodSeconds")
        grace = min(float(grace if grace is not None else 30), self.max_grace)
        pod = copy.deepcopy(pod)
        pod["metadata"]["deletionTimestamp"] = _now()
        pod = await self.put("pods", pod)
        self._spawn(self._terminate(ns, name, grace))
        return web.json_response(pod)

    async def _terminate(self, ns: str, name: str, grace: float) -> None:
        running = self.running.pop(f"{ns}/{name}", None)
        if running is not None:
            await self.kubelet.kill(running.key, grace)
            self.net.release(running.ip)
        await self.delete("pods", ns, name)

    async def shutdown(self) -> None:
        """End open watches and kill every pod process (the cluster is going away)."""
        self.generation += 1
        async with self._changed:
            self._changed.notify_all()
        for task in list(self._tasks):
            task.cancel()
        self.kubelet.kill_all()
        self.running.clear()
