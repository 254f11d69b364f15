"""ImagineOAuthenticator: OpenID Connect login for research communities.

Traits and wiring only; the decisions live in ``access.py`` (who is in), ``tokens.py`` (is this
token genuine) and ``entitlements.py`` (what a membership is called).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Any, NoReturn

from jupyterhub.crypto import CryptKeeper, EncryptionUnavailable
from oauthenticator.generic import GenericOAuthenticator
from tornado.httpclient import HTTPClientError
from traitlets import Bool, Dict, Enum, Float, List, Unicode, default, validate

from ..startup import spawner_config_problems
from . import access, tokens
from .discovery import DiscoveryError, IssuerMismatch, ProviderInfo
from .entitlements import DEFAULT_NAMESPACES
from .handlers import (
    ImagineCallbackHandler,
    ImagineLoginHandler,
    ImagineLogoutHandler,
    LoginRefused,
    end_session_url,
    not_in_community,
    provider_down,
)
from .presets import CHECKIN_ISSUERS, PRESETS, Preset, get_preset
from .server_tokens import ServerTokensMixin


def _from_preset(name: str) -> Any:
    """A trait default read from the selected preset's field of the same name."""
    return default(name)(lambda self: getattr(self._preset(), name))


class ImagineConfigError(SystemExit):
    """A required setting is missing or wrong; the message names it and says what to do.

    A SystemExit, so the hub stops with the message (exit status 1) instead of a traceback."""


class ImagineOAuthenticator(ServerTokensMixin, GenericOAuthenticator):
    """OpenID Connect for EGI Check-in, UmbrellaID, Keycloak or any provider with discovery."""

    login_handler = ImagineLoginHandler
    callback_handler = ImagineCallbackHandler
    logout_handler = ImagineLogoutHandler

    preset = Enum(
        sorted(PRESETS),
        default_value="egi-checkin",
        config=True,
        help="""Provider preset: egi-checkin, umbrellaid, keycloak or generic.

        Sets defaults for issuer, scope, username_claim, entitlements_claim, groups_claim,
        keycloak_roles, enrollment_url and login_service; any of them set in config wins.
        umbrellaid, keycloak and generic need `issuer`.
        """,
    )
    checkin_instance = Enum(
        sorted(CHECKIN_ISSUERS),
        default_value="production",
        config=True,
        help="EGI Check-in instance for the egi-checkin preset: production, demo or development.",
    )
    issuer = Unicode(
        config=True,
        help="""OpenID issuer URL, e.g. https://aai.egi.eu/auth/realms/egi or
        https://keycloak.example.org/realms/imagine (servers before Keycloak 17:
        .../auth/realms/imagine). Endpoints are read from <issuer>/.well-known/openid-configuration
        (cached for `metadata_cache_seconds`), fetched in the background from start-up (the hub
        serves meanwhile, logins wait for it); the hub stops when the discovered issuer
        differs.""",
    )
    discovery_timeout = Float(
        10.0,
        config=True,
        help="""Seconds to wait for the provider's discovery document or keys (JWKS). Fetched
        without blocking the hub: it serves other requests meanwhile, logins wait.""",
    )
    metadata_cache_seconds = Float(
        3600.0, config=True, help="How long discovery metadata is cached, in seconds."
    )
    jwks_refetch_interval = Float(
        30.0,
        config=True,
        help="""Minimum seconds between two JWKS downloads triggered by an unknown key id
        (after a key rotation); limits what forged tokens can make the hub fetch.""",
    )
    id_token_leeway = Float(
        10.0,
        config=True,
        help="Clock skew in seconds tolerated when checking exp and iat of tokens.",
    )
    id_token_signing_algs = List(
        Unicode(),
        default_value=sorted(tokens.ASYMMETRIC_ALGORITHMS),
        config=True,
        help="Accepted id_token signing algorithms; only asymmetric ones (no 'none', no HS*).",
    )
    entitlements_claim = Unicode(
        config=True,
        help="""Userinfo claim holding AARC-G002 entitlements (default per preset:
        eduperson_entitlement; empty for keycloak). Read from userinfo only.""",
    )
    groups_claim = Unicode(
        config=True,
        help="""Claim holding group paths such as /a/b (Keycloak Group Membership mapper). Read
        from userinfo, else from the validated access token. Default per preset.""",
    )
    keycloak_roles = Bool(
        config=True,
        help="""Read Keycloak realm_access.roles and resource_access.<client>.roles (from userinfo,
        else from the validated JWT access token). Default: True for the keycloak preset.""",
    )
    keycloak_ignored_roles = List(
        Unicode(),
        default_value=["default-roles-*", "offline_access", "uma_authorization", "account:*"],
        config=True,
        help="""Keycloak roles that do not become groups (shell patterns; client roles are
        written <client>:<role>). The defaults are roles Keycloak gives everybody.""",
    )
    entitlement_namespaces = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        config=True,
        help="""Extra entitlement prefixes (up to and including ':group:') and the namespace their
        groups get, e.g. {"urn:geant:example.org:group:": "example"}. Merged over the defaults
        for egi.eu, eduTEAMS and UmbrellaID; other urn:geant:<ns>:group: URNs get <ns>.""",
    )
    allowed_rules = List(
        Unicode(),
        config=True,
        help="""Who may log in: a user needs at least one membership matching one of these rules,
        e.g. ["egi:vo.imagine.example"] or ["kc:imagine", "kc-realm:imagine-user"]. (Before,
        these rules were written in `allowed_groups`, which now keeps oauthenticator's meaning:
        exact hub group names.)\n"""
        + access.RULES_HELP,
    )
    admin_rules = List(
        Unicode(),
        config=True,
        help="""Who is a hub admin (re-evaluated at every login and refresh), e.g.
        ["egi:vo.imagine.example:role=manager"] or ["kc-client:jupyterhub:admin"]. (Before, these
        rules were written in `admin_groups`, which now keeps oauthenticator's meaning.)\n"""
        + access.RULES_HELP,
    )
    capabilities = Dict(
        key_trait=Unicode(),
        value_trait=List(Unicode()),
        config=True,
        help="""Named capabilities the spawner uses to gate profiles, name -> list of rules, e.g.
        {"gpu": ["egi:vo.imagine.example:gpu"]}. A user has a capability when any of its rules
        matches; names land in auth_state["imagine"]["capabilities"].\n"""
        + access.RULES_HELP,
    )
    enrollment_url = Unicode(
        config=True,
        help="""Where users outside every allowed group can request membership; shown on the
        403 page. Default per preset (EGI: how to join a VO; UmbrellaID: umbrellaid.org).""",
    )
    community_label = Unicode(
        config=True, help="What the 403 page calls a community, e.g. 'virtual organisation (VO)'."
    )
    rp_logout = Bool(
        True,
        config=True,
        help="""Log users out of the provider too, through its end_session_endpoint with
        id_token_hint and post_logout_redirect_uri (`post_logout_redirect_url`).""",
    )
    post_logout_redirect_url = Unicode(
        config=True,
        help="""Where the provider sends users after logout; must be registered at the provider.
        Default: the hub's login page derived from oauth_callback_url.""",
    )

    refresh_ahead = Float(
        60.0,
        config=True,
        help="""Refresh the access token this many seconds before it expires. Every refresh
        (every `auth_refresh_age` seconds, and before each spawn) also re-reads userinfo and
        re-evaluates membership: a user who left the community must log in again (and is then
        refused), and capabilities follow the current entitlements. Tokens given to running
        servers are refreshed by the hub too (`token_refresh_interval`).""",
    )

    def _preset(self) -> Preset:
        return get_preset(self.preset)

    @default("issuer")
    def _issuer_default(self) -> str:
        if self.preset == "egi-checkin":
            return CHECKIN_ISSUERS[self.checkin_instance]
        return self._preset().issuer

    @default("scope")
    def _scope_default(self) -> list[str]:
        return list(self._preset().scope)

    # claims and texts that come straight from the preset unless configured
    _username_claim_default = _from_preset("username_claim")
    _login_service_default = _from_preset("login_service")
    _entitlements_claim_default = _from_preset("entitlements_claim")
    _groups_claim_default = _from_preset("groups_claim")
    _keycloak_roles_default = _from_preset("keycloak_roles")
    _enrollment_url_default = _from_preset("enrollment_url")
    _community_label_default = _from_preset("community_label")

    @default("manage_groups")
    def _manage_groups_default(self) -> bool:
        return True

    @default("enable_auth_state")
    def _enable_auth_state_default(self) -> bool:
        return True

    @default("refresh_pre_spawn")
    def _refresh_pre_spawn_default(self) -> bool:
        return True

    @default("basic_auth")
    def _basic_auth_default(self) -> bool:
        return True  # client_secret_basic, the OpenID Connect default

    @validate("id_token_signing_algs")
    def _check_algs(self, proposal: Any) -> list[str]:
        bad = [a for a in proposal.value if a not in tokens.ASYMMETRIC_ALGORITHMS]
        if bad:
            raise ImagineConfigError(
                f"ImagineOAuthenticator.id_token_signing_algs: {bad} not allowed; "
                f"use asymmetric algorithms only ({sorted(tokens.ASYMMETRIC_ALGORITHMS)})"
            )
        return list(proposal.value)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._used_nonces: dict[str, float] = {}
        problems = self._config_problems()
        if problems:
            self._fail(problems)
        namespaces = {**DEFAULT_NAMESPACES, **self.entitlement_namespaces}
        self._sources = access.ClaimSources(
            self.entitlements_claim,
            self.groups_claim,
            self.keycloak_roles,
            self.client_id,
            namespaces,
            tuple(self.keycloak_ignored_roles),
        )
        policy, problems = access.policy_from_config(self._rule_settings(), namespaces)
        if policy is None:
            self._fail(problems)
        self._policy: access.Policy = policy
        self.provider = ProviderInfo(
            self.issuer, self._fetch_json, self.metadata_cache_seconds, self.jwks_refetch_interval
        )
        self._startup_discovery: asyncio.Future[None] | None = None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # discovery at the first login, token refresher at the first spawn
        else:
            self._startup_discovery = asyncio.ensure_future(self._discover_at_startup())
            self.start_token_refresher()  # the hub may have kept servers running over a restart

    def _rule_settings(self) -> access.RuleSettings:
        return access.RuleSettings(
            list(self.allowed_rules),
            list(self.admin_rules),
            {k: list(v) for k, v in self.capabilities.items()},
            sorted(self.allowed_groups),
            sorted(self.admin_groups),
        )

    def _fail(self, problems: list[str]) -> NoReturn:
        message = "ImagineOAuthenticator cannot start:\n  - " + "\n  - ".join(problems)
        self.log.critical(message)
        raise ImagineConfigError(message)

    def _config_problems(self) -> list[str]:
        """Every missing or wrong setting, each naming the setting to fix."""
        problems = []
        if not self.issuer:
            problems.append(
                f"ImagineOAuthenticator.issuer is not set (required with preset {self.preset!r})"
            )
        if not self.client_id:
            problems.append("ImagineOAuthenticator.client_id is not set (the OAuth client id)")
        if not self.client_secret:
            problems.append(
                "ImagineOAuthenticator.client_secret is not set (the OAuth client secret; "
                "or set OAUTH_CLIENT_SECRET)"
            )
        if not self.enable_auth_state:
            problems.append(
                "ImagineOAuthenticator.enable_auth_state is False: tokens must be kept in "
                "encrypted auth state; remove that setting"
            )
        try:
            CryptKeeper.instance().check_available()
        except EncryptionUnavailable as e:
            problems.append(
                f"JUPYTERHUB_CRYPT_KEY is not set or unusable ({e}): auth state holds tokens "
                "and must be encrypted; set it to the output of `openssl rand -hex 32`"
            )
        # The hub builds spawners lazily; check our spawner's profiles now, not at first spawn.
        spawner_class = getattr(self.parent, "spawner_class", None)
        problems += spawner_config_problems(self.config, spawner_class)
        return problems

    async def _discover_at_startup(self) -> None:
        """Discovery in the background while the hub starts and serves; a wrong issuer
        stops the hub (after its cleanup: proxy, servers), like any other config error."""
        try:
            self._apply_metadata(await self.provider.metadata())
        except IssuerMismatch as e:
            message = f"ImagineOAuthenticator cannot start:\n  - {e}"
            self.log.critical(message)
            cleanup = getattr(self.parent, "cleanup", None)
            if cleanup is not None:
                await cleanup()
            raise ImagineConfigError(message) from None
        except DiscoveryError as e:
            self.log.warning("%s; will retry at the first login", e)

    def _apply_metadata(self, metadata: dict[str, Any]) -> None:
        self.provider.set_metadata(metadata)
        endpoints = (
            ("authorize_url", "authorization_endpoint"),
            ("token_url", "token_endpoint"),
            ("userdata_url", "userinfo_endpoint"),
        )
        for trait, key in endpoints:
            if not getattr(self, trait) and metadata.get(key):  # explicit config wins
                setattr(self, trait, metadata[key])

    async def _fetch_json(self, url: str) -> Any:
        resp = await self.httpfetch(
            url,
            label="fetching provider metadata",
            parse_json=False,
            connect_timeout=self.discovery_timeout,
            request_timeout=self.discovery_timeout,
        )
        return json.loads(resp.body)

    async def ensure_provider(self) -> dict[str, Any]:
        """Discovery metadata, or a 503 page when the provider cannot be reached."""
        try:
            metadata = await self.provider.metadata()
        except DiscoveryError as e:
            self.log.error("login impossible: %s", e)
            raise provider_down(self.issuer) from None
        self._apply_metadata(metadata)
        return metadata

    # -- tokens -----------------------------------------------------------------------------

    def _expected(self, nonce: str | None = None) -> tokens.Expected:
        return tokens.Expected(
            self.issuer, self.client_id, self.id_token_signing_algs, self.id_token_leeway, nonce
        )

    async def _key_for(self, token: str) -> dict[str, Any]:
        header = tokens.header_of(token, self.id_token_signing_algs)
        try:
            jwk = await self.provider.signing_key(header.get("kid"))
        except DiscoveryError as e:
            self.log.error("cannot check a token: %s", e)
            raise provider_down(self.issuer) from None
        if jwk is None:
            raise tokens.TokenRejected(f"unknown signing key {header.get('kid')!r}")
        return jwk

    async def validate_id_token(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        return tokens.verify_id_token(
            id_token, await self._key_for(id_token), self._expected(nonce)
        )

    async def _access_token_claims(self, token_info: dict[str, Any]) -> dict[str, Any]:
        """Claims of a JWT access token (Keycloak roles), validated; {} when not needed."""
        token = token_info.get("access_token", "")
        if not (self.keycloak_roles or self.groups_claim) or not tokens.looks_like_jwt(token):
            return {}
        return tokens.verify_access_token(token, await self._key_for(token), self._expected())

    def _check_nonce(self, nonce: str | None) -> str:
        now = time.monotonic()
        self._used_nonces = {n: t for n, t in self._used_nonces.items() if t > now}
        if not nonce:
            raise tokens.TokenRejected("no nonce in the login state")
        if nonce in self._used_nonces:
            raise tokens.TokenRejected("nonce replayed")
        return nonce

    # -- login --------------------------------------------------------------------------------

    async def authenticate(self, handler: Any, data: Any = None, **kwargs: Any) -> dict[str, Any]:
        await self.ensure_provider()
        params = self.build_access_tokens_request_params(handler, data)
        try:
            token_info = await self.get_token_info(handler, params)
            nonce = self._check_nonce(handler.nonce())
            model = await self._auth_model(token_info, nonce=nonce)
        except tokens.TokenRejected as e:
            self.log.warning("login refused: %s", e.reason)
            raise LoginRefused(
                403,
                f"The login was refused: {e.reason}. Please log in again.",
                title="Login refused",
            ) from None
        except HTTPClientError as e:
            if e.code == 599:
                raise provider_down(self.issuer) from None
            raise LoginRefused(
                403,
                "The identity provider refused the login; please try again.",
                title="Login refused",
            ) from None
        except OSError:
            raise provider_down(self.issuer) from None
        self._used_nonces[nonce] = time.monotonic() + 3600
        return model

    async def _auth_model(
        self,
        token_info: dict[str, Any],
        nonce: str | None = None,
        previous_sub: str | None = None,
        expires_at: float | None = None,
    ) -> dict[str, Any]:
        """Validate tokens, fetch userinfo, decide membership. Raises TokenRejected.

        On refresh without new tokens (``expires_at`` given) the stored id_token is not
        re-checked: it was checked at login and may have expired since.
        """
        id_token = token_info.get("id_token") if expires_at is None else None
        sub = previous_sub
        if id_token:
            sub = (await self.validate_id_token(id_token, nonce))["sub"]
            if previous_sub is not None and sub != previous_sub:
                raise tokens.TokenRejected("the refreshed id_token is for another subject")
        elif previous_sub is None:
            raise tokens.TokenRejected("no id_token in the token response")
        access_claims = await self._access_token_claims(token_info)
        user_info = await self.token_to_user(token_info)
        if user_info.get("sub") != sub:
            raise tokens.TokenRejected("userinfo sub differs from the id_token sub")
        username = self.normalize_username(self.user_info_to_username(user_info))
        auth_state = self.build_auth_state_dict(token_info, user_info)
        memberships, entitlements = access.memberships_from_claims(
            user_info, access_claims, self._sources
        )
        decision = access.decide(self._policy, memberships, entitlements)
        self.log.info("%s: %s; groups %s", username, decision.reason, decision.groups)
        auth_state["imagine"] = access.imagine_state(decision)
        if expires_at is None:
            expires_at = time.time() + float(token_info.get("expires_in") or 3600)
        auth_state["expires_at"] = expires_at
        if self.modify_auth_state_hook is not None:
            auth_state = await self._hook(self.modify_auth_state_hook, auth_state)
        plain_admin = bool(self.admin_groups & set(decision.groups))  # oauthenticator's meaning
        admin = True if username in self.admin_users or plain_admin else decision.admin
        return {
            "name": username,
            "admin": admin,
            "auth_state": auth_state,
            "groups": decision.groups,
            "_imagine_decision": decision,
        }

    async def _hook(self, hook: Any, *args: Any) -> Any:
        """A configured hook, called as oauthenticator documents: hook(self, *args), maybe async."""
        result = hook(self, *args)
        return await result if inspect.isawaitable(result) else result

    async def check_allowed(self, username: str, auth_model: dict[str, Any] | None) -> bool:
        if auth_model is None:
            return True
        decision: access.Decision | None = auth_model.pop("_imagine_decision", None)
        if decision is not None and decision.allowed:
            return True
        # upstream's own rules with upstream's meaning (allowed_users, allow_all, existing users,
        # allowed_groups as exact hub group names); rule-shaped names were refused at start-up
        if await super().check_allowed(username, auth_model):
            return True
        if decision is None or decision.allowed is None:
            return False
        self.log.warning("%s refused: %s", username, decision.reason)
        raise not_in_community(
            username, decision, self._policy.allowed, self.community_label, self.enrollment_url
        )

    # -- refresh ------------------------------------------------------------------------------

    async def _refreshed_tokens(self, refresh_token: str) -> dict[str, Any]:
        params = self.build_refresh_token_request_params(refresh_token)
        token_info: dict[str, Any] = await self.get_token_info(None, params)
        token_info.setdefault("refresh_token", refresh_token)
        return token_info

    async def _refresh_model(self, auth_state: dict[str, Any]) -> dict[str, Any]:
        """A fresh auth model: refresh tokens when due (or rejected), re-read userinfo."""
        token_info = dict(auth_state.get("token_response") or {})
        previous_sub = (auth_state.get(self.user_auth_state_key) or {}).get("sub")
        expires_at = float(auth_state.get("expires_at") or 0)
        refresh_token = auth_state.get("refresh_token")
        if refresh_token and time.time() + self.refresh_ahead >= expires_at:
            token_info = await self._refreshed_tokens(refresh_token)
            return await self._auth_model(token_info, previous_sub=previous_sub)
        try:
            return await self._auth_model(
                token_info, previous_sub=previous_sub, expires_at=expires_at
            )
        except HTTPClientError as e:
            if not refresh_token or not 400 <= e.code < 500:
                raise
        token_info = await self._refreshed_tokens(refresh_token)
        return await self._auth_model(token_info, previous_sub=previous_sub)

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Refresh tokens ahead of expiry and re-evaluate membership; False means log in again.

        Servers' token files follow (rewritten, or deleted when access is lost)."""
        async with self.user_lock(user.name):
            result = await self._refresh_user(user)
            await self.deliver_refreshed(user, result)
        return result

    async def _refresh_user(self, user: Any) -> Any:
        auth_state = await user.get_auth_state()
        if self.refresh_user_hook is not None:
            refreshed = await self._hook(self.refresh_user_hook, user, auth_state)
            if refreshed is not None:
                return refreshed
        if not auth_state:
            return False
        try:
            model = await self._refresh_model(auth_state)
        except (OSError, DiscoveryError) as e:
            self.log.warning("cannot refresh %s, provider unreachable: %s", user.name, e)
            return True
        except (tokens.TokenRejected, HTTPClientError, LoginRefused) as e:
            if getattr(e, "code", None) == 599 or getattr(e, "status_code", None) == 503:
                self.log.warning("cannot refresh %s, provider unreachable: %s", user.name, e)
                return True
            self.log.warning("%s must log in again: %s", user.name, getattr(e, "reason", e))
            return False
        decision: access.Decision = model.pop("_imagine_decision")
        in_group = bool(self.allowed_groups & set(model["groups"]))  # oauthenticator's meaning
        exempt = self.allow_all or model["admin"] or model["name"] in self.allowed_users or in_group
        if decision.allowed is False and not exempt:
            self.log.warning("%s lost access: %s", user.name, decision.reason)
            return False
        return model

    # -- logout -------------------------------------------------------------------------------

    async def end_session_url(self, id_token: str | None) -> str | None:
        """The provider's logout URL for RP-initiated logout, or None to stay on the hub."""
        if not self.rp_logout:
            return None
        try:
            metadata = await self.provider.metadata()
        except DiscoveryError:
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not endpoint:
            return None
        return end_session_url(endpoint, id_token, self.client_id, self._after_logout_url())

    def _after_logout_url(self) -> str:
        if self.post_logout_redirect_url:
            return self.post_logout_redirect_url
        if self.oauth_callback_url:
            return self.oauth_callback_url.rsplit("/oauth_callback", 1)[0] + "/login"
        return ""
