"""Hub-side wiring of the idle-GPU culler, from the one place that names it: its service entry.

Call :func:`wire_culler` at the end of a ``jupyterhub_config.py`` (the Helm chart does, in
``hub.extraConfig``). It finds the culler among ``c.JupyterHub.services`` (the entry running
``jupyterhub-imagine-culler``) and gives it everything that depends on its name: its role with
the scopes it needs, users' access to their warnings and the home page that shows them. The
spawners find the same entry to hand its name to user servers. Renaming the service is then
a change in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from traitlets.config import Config

from .. import contract

#: Exactly the scopes the culler needs (docs/culler.md).
CULLER_SCOPES = (
    "list:users",
    "read:users:activity",
    "read:servers",
    "delete:servers",
    "access:servers",
)
TEMPLATE_VAR = "imagine_culler_service"
#: The hub home page showing the culler's pending warnings.
TEMPLATES = str(Path(__file__).resolve().parent.parent / "templates")


def _value(section: Any, name: str, initial: Any) -> Any:
    """A config value that config files may have appended to (a lazy value)."""
    value = section.get(name, initial)
    return value.get_value(initial) if hasattr(value, "get_value") else value


def wire_culler(c: Config, *, user_role: str = "user") -> str | None:
    """Wire the culler service found in ``c``; returns its name (None: no culler service)."""
    hub = c.JupyterHub
    name = contract.culler_service_from_services(_value(hub, "services", []))
    if name is None:
        return None
    roles = [dict(r) for r in _value(hub, "load_roles", [])]
    if not any(name in (r.get("services") or []) for r in roles):
        roles.append(
            {
                "name": name,
                "description": "Idle-GPU culler of jupyterhub-imagine",
                "scopes": list(CULLER_SCOPES),
                "services": [name],
            }
        )
    access = f"access:services!service={name}"
    users = next((r for r in roles if r.get("name") == user_role), None)
    if users is None:
        roles.append({"name": user_role, "scopes": ["self", access]})
    elif access not in (users.get("scopes") or []):
        users["scopes"] = [*(users.get("scopes") or ["self"]), access]
    hub.load_roles = roles
    paths = list(_value(hub, "template_paths", []))
    if TEMPLATES not in paths:
        hub.template_paths = [*paths, TEMPLATES]
    hub.template_vars = {**_value(hub, "template_vars", {}), TEMPLATE_VAR: name}
    return name
