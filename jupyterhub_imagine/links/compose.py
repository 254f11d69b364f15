"""``/hub/imagine/links``: a page to compose a launch link and copy it as a Markdown badge.

The form submits to itself with GET; the link is checked by the same parser as a followed link,
so a link made here is one the hub accepts (the ref is not looked up: the repository may not be
reachable from the hub yet when the link is written)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from jupyterhub.handlers import BaseHandler
from tornado import web

from ..spawner import profiles as pm
from .settings import ImagineLinks
from .spec import LinkError, parse_launch

FIELDS = ("profile", "repo", "ref", "labpath")


class ComposeHandler(BaseHandler):
    @web.authenticated
    async def get(self) -> None:
        spawner = self.current_user.spawner
        profiles: list[pm.Profile] = []
        if hasattr(spawner, "load_profiles"):
            have = await spawner.entitlements()
            profiles = pm.visible_profiles(await spawner.load_profiles(), have)
        values = {f: self.get_argument(f, "").strip() for f in FIELDS}
        link = badge = error = ""
        if values["repo"]:
            try:
                links = ImagineLinks(config=self.settings.get("config"))
                parse_launch({k: [v] for k, v in values.items() if v}, links.policy())
                query = urlencode({k: v for k, v in values.items() if v})
                host = f"{self.request.protocol}://{self.request.host}"
                link = f"{host}{self.hub.base_url}imagine/launch?{query}"
                image = f"{host}{self.hub.base_url}static/images/jupyterhub-80.png"
                badge = f"[![Open on the hub]({image})]({link})"
            except LinkError as exc:
                error = str(exc)
        self.set_status(400 if error else 200)
        html = await self.render_template(
            "imagine-link-compose.html", profiles=profiles, values=values, link=link,
            badge=badge, error=error,
        )
        self.finish(html)


def compose_handlers() -> list[tuple[str, Any]]:
    return [(r"/imagine/links", ComposeHandler)]
