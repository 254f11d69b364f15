"""The hub pages behind launch links: GET confirms, POST (with the XSRF token) starts and pulls.

A link never starts, stops or restarts a server on GET. The POST validates the profile through
the spawner's own options path (``options_from_query``: entitlements), starts the server with it
(quotas apply in the spawner's start) and sends the browser to nbgitpuller's ``git-pull`` in the
user's server. Every refusal is a page with a 4xx status, never a 5xx.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from tornado import web

from ..spawner import profiles as pm
from ..upstream.jupyterhub import forget_finished_spawn
from . import remote
from .settings import ImagineLinks
from .spec import LaunchRequest, LinkError, parse_launch, parse_v2

SPAWN_WAIT = 1.0  # seconds to wait for a spawn to fail fast (as the hub's own spawn page does)


class LaunchHandler(BaseHandler):
    """``/hub/imagine/launch?profile=&repo=&ref=&urlpath=`` (our own shape)."""

    @property
    def links(self) -> ImagineLinks:
        if "imagine_links" not in self.settings:
            self.settings["imagine_links"] = ImagineLinks(config=self.settings.get("config"))
        links: ImagineLinks = self.settings["imagine_links"]
        return links

    def query(self) -> dict[str, list[str]]:
        try:
            return {
                k: [v.decode("utf-8") for v in vs]
                for k, vs in self.request.query_arguments.items()
            }
        except UnicodeDecodeError:
            raise LinkError("The link is not valid UTF-8") from None

    def parse(self) -> LaunchRequest:
        return parse_launch(self.query(), self.links.policy())

    async def resolve(self, req: LaunchRequest) -> remote.Resolved:
        if not req.repo or not self.links.check_refs:
            return remote.Resolved(req.ref, req.ref if req.is_commit else "")
        http = req.repo.lower().startswith("http:")
        text = await remote.ls_remote(req.repo, self.links.ls_remote_timeout, http)
        default, refs = remote.parse_ls_remote(text)
        return remote.resolve(req.ref, default, refs)

    async def profiles_for(self, spawner: Any) -> tuple[list[pm.Profile], set[str]]:
        if not hasattr(spawner, "load_profiles"):
            return [], set()
        return await spawner.load_profiles(), await spawner.entitlements()

    async def choose(self, spawner: Any, req: LaunchRequest) -> pm.Profile | None:
        profiles, have = await self.profiles_for(spawner)
        if not profiles:
            if req.profile or req.options:
                raise pm.BadSpawnOptions("This hub has no profiles; remove 'profile' from the link")
            return None
        return pm.select(profiles, {"profile": req.profile, **req.options}, have).profile

    async def running_profile(self, spawner: Any) -> pm.Profile | None:
        profiles, have = await self.profiles_for(spawner)
        if not profiles:
            return None
        try:
            return pm.select(profiles, dict(spawner.user_options or {}), have).profile
        except pm.BadSpawnOptions:
            return None

    async def page(self, status: int, template: str, **ns: Any) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(await self.render_template(template, **ns))

    async def refuse(self, status: int, message: str, **ns: Any) -> None:
        await self.page(status, "imagine-link-refused.html", message=message, **ns)

    async def refuse_profile(self, spawner: Any, req: LaunchRequest, message: str) -> None:
        profiles, have = await self.profiles_for(spawner)
        usable = [
            (p, self.link_with_profile(p.slug)) for p in pm.visible_profiles(profiles, have)
        ]
        await self.refuse(403, message, profiles=usable)

    def link_with_profile(self, slug: str) -> str:
        query = {k: v for k, v in self.query().items() if not k.startswith("opt-")}
        query["profile"] = [slug]
        query.pop("opt-profile", None)
        return f"{self.request.path}?{urlencode(query, doseq=True)}"

    def git_pull_url(self, user: Any, req: LaunchRequest, branch: str) -> str:
        if not req.repo:
            return url_path_join(user.url, req.urlpath)
        args = {"repo": req.repo, "targetpath": req.target, "urlpath": req.urlpath}
        if branch:
            args["branch"] = branch
        return url_path_join(user.url, "git-pull") + "?" + urlencode(args)

    async def prepared(self) -> tuple[Any, Any, LaunchRequest, remote.Resolved, Any] | None:
        """The user, spawner, request, resolved ref and profile; None when a refusal was sent."""
        user = self.current_user
        spawner = user.spawner
        try:
            req = self.parse()
            profile = await self.choose(spawner, req)
            resolved = await self.resolve(req)
        except LinkError as exc:
            await self.refuse(400, str(exc))
            return None
        except pm.BadSpawnOptions as exc:
            await self.refuse_profile(spawner, req, str(exc))
            return None
        return user, spawner, req, resolved, profile

    @web.authenticated
    async def get(self, *_args: str) -> None:
        ready = await self.prepared()
        if ready is None:
            return
        user, spawner, req, resolved, profile = ready
        running = await self.running_profile(spawner) if spawner.active else None
        await self.page(
            200,
            "imagine-link-confirm.html",
            req=req,
            resolved=resolved,
            profile=profile,
            server_active=spawner.active,
            running=running,
            same_profile=(not spawner.active) or running == profile,
            action_url=self.request.uri,
        )

    @web.authenticated
    async def post(self, *_args: str) -> None:  # JupyterHub checks the XSRF token first
        ready = await self.prepared()
        if ready is None:
            return
        user, spawner, req, resolved, profile = ready
        action = self.get_body_argument("action", "start")
        target = self.git_pull_url(user, req, resolved.branch)
        if spawner.pending:
            await self.refuse(409, f"Your server is {spawner.pending} now; try the link again.")
            return
        if spawner.active:
            running = await self.running_profile(spawner)
            if running == profile or action == "reuse":
                self.redirect(target)
                return
            if action != "restart":
                await self.refuse(
                    409,
                    "Your server runs another profile. Go back to the link and choose whether to "
                    "restart it with the link's profile.",
                )
                return
            await self.stop_single_user(user, "")
        await self.start(user, spawner, req, target)

    async def start(self, user: Any, spawner: Any, req: LaunchRequest, target: str) -> None:
        options: dict[str, Any] = {}
        if hasattr(spawner, "options_from_query"):
            query = {"profile": [req.profile], **{k: [v] for k, v in req.options.items()}}
            try:
                options = await spawner.options_from_query(query)
            except web.HTTPError as exc:
                await self.refuse(exc.status_code, getattr(exc, "jupyterhub_message", str(exc)))
                return
        forget_finished_spawn(spawner)
        future = asyncio.ensure_future(self.spawn_single_user(user, "", options=options))
        await asyncio.wait([future], timeout=SPAWN_WAIT)
        if future.done() and future.exception():
            error = future.exception()
            message = getattr(error, "jupyterhub_message", None) or str(error)
            status = error.status_code if isinstance(error, web.HTTPError) else 409
            self.log.warning("Launch link for %s refused: %s", user.name, message)
            await self.refuse(status if 400 <= status < 500 else 409, message)
            return
        self.redirect(target)


class BinderLaunchHandler(LaunchHandler):
    """``/hub/imagine/v2/<gh|gl|git>/<spec>/<ref>`` (BinderHub's shape)."""

    def parse(self) -> LaunchRequest:
        prefix = url_path_join(self.hub.base_url, "imagine/v2/")
        raw = self.request.path[len(prefix):] if self.request.path.startswith(prefix) else ""
        return parse_v2(raw, self.query(), self.links.policy())


def handlers() -> list[tuple[str, type[BaseHandler]]]:
    from .compose import compose_handlers

    return [
        (r"/imagine/launch", LaunchHandler),
        (r"/imagine/v2/(.*)", BinderLaunchHandler),
        *compose_handlers(),
    ]
