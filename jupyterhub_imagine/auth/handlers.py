"""Login, callback and logout handlers, and the error pages users can meet."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from oauthenticator.oauth2 import OAuthLogoutHandler
from tornado import web

from ..upstream.oauthenticator import NonceCallbackHandler, NonceLoginHandler

if TYPE_CHECKING:
    from .access import Decision
    from .entitlements import Rule


class LoginRefused(web.HTTPError):
    """A login refused for a reason the user should read (shown on the hub's error page)."""

    def __init__(self, status: int, message: str, html_message: str = "", title: str = "") -> None:
        # tornado formats log_message with %-args only when args are given: none are.
        super().__init__(status, message, reason=title or None)
        self.jupyterhub_message = message
        self.jupyterhub_html_message = html_message or f"<p>{html.escape(message)}</p>"


def provider_down(issuer: str) -> LoginRefused:
    return LoginRefused(
        503,
        f"The login service ({issuer}) cannot be reached right now. "
        "Please try again in a few minutes; if it keeps failing, tell the administrators.",
        title="Login service unavailable",
    )


def _rule_label(rule: Rule) -> str:
    name = rule.group.split(":", 1)[1] if ":" in rule.group else rule.group
    return f"{name} (role {rule.role})" if rule.role else name


def not_in_community(
    username: str, decision: Decision, rules: list[Rule], label: str, enrollment_url: str
) -> LoginRefused:
    """The 403 page for a user outside every allowed group: what is missing, where to enrol."""
    needed = ", ".join(_rule_label(r) for r in rules)
    text = (
        f"{username} is not a member of the {label} this service requires: {needed}. "
        + (
            f"Request membership at {enrollment_url}, "
            if enrollment_url
            else "Ask the administrators, "
        )
        + "then log in again."
    )
    items = "".join(f"<li><code>{html.escape(_rule_label(r))}</code></li>" for r in rules)
    enrol = (
        f'<p><a class="btn btn-primary" id="enrollment-link" href="{html.escape(enrollment_url)}">'
        f"Request membership</a></p>"
        if enrollment_url
        else "<p>Ask the administrators of this service to add you.</p>"
    )
    page = (
        f'<div id="imagine-not-in-community"><p>You signed in as <b>{html.escape(username)}</b>, '
        f"but your account is not a member of the {html.escape(label)} this service requires. "
        f"You need one of:</p><ul>{items}</ul>{enrol}"
        "<p>Memberships are read when you log in: after joining, log out and log in again.</p>"
        "</div>"
    )
    return LoginRefused(403, text, page, title=f"Not a member of the required {label}")


class ImagineLoginHandler(NonceLoginHandler):
    """oauthenticator's login (state, PKCE) plus a nonce, with endpoints from discovery."""

    async def get(self) -> None:  # type: ignore[override]
        await self.authenticator.ensure_provider()  # type: ignore[attr-defined]
        await self.run_upstream_get()


class ImagineCallbackHandler(NonceCallbackHandler):
    """Checks the RFC 9207 ``iss`` parameter on top of state, code and error."""

    def check_arguments(self) -> None:
        super().check_arguments()
        iss = self.get_argument("iss", None)
        issuer = self.authenticator.issuer  # type: ignore[attr-defined]
        if iss is not None and iss != issuer:
            raise LoginRefused(
                400,
                f"The login response came from {iss}, not from {issuer}.",
                title="Login refused",
            )


class ImagineLogoutHandler(OAuthLogoutHandler):
    """Ends the provider session too (RP-initiated logout) when the provider supports it."""

    async def get(self) -> None:
        user = self.current_user
        self._imagine_id_token = None
        if user is not None:
            state = await user.get_auth_state()  # type: ignore[union-attr]
            self._imagine_id_token = (state or {}).get("id_token")
        await super().get()

    async def render_logout_page(self) -> None:
        url = await self.authenticator.end_session_url(  # type: ignore[attr-defined]
            getattr(self, "_imagine_id_token", None)
        )
        if url:
            self.redirect(url)
            return
        await super().render_logout_page()


def end_session_url(endpoint: str, id_token: str | None, client_id: str, after: str) -> str:
    params = {"client_id": client_id}
    if id_token:
        params["id_token_hint"] = id_token
    if after:
        params["post_logout_redirect_uri"] = after
    sep = "&" if "?" in endpoint else "?"
    return f"{endpoint}{sep}{urlencode(params)}"
