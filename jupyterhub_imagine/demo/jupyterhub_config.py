"""JupyterHub configuration of the embedded single-machine demo (started by `make demo`).

Every value comes from environment variables set by ``jupyterhub_imagine.demo.stack``: the
OpenID provider's issuer and client, ports, and a state directory. Tests reuse this file with an
extra config file layered on top (IMAGINE_DEMO_EXTRA_CONFIG).
"""
# ruff: noqa: F821  (`get_config` and `load_subconfig` are provided by traitlets when it runs this file)

import json
import os
import sys
from pathlib import Path

from jupyterhub_imagine.culler.hubconfig import wire_culler
from jupyterhub_imagine.demo.gpus import SIMULATED_MODULE, SimulatedGPUSpawner, nvml_module_for_demo
from jupyterhub_imagine.demo.simulated_nvml import STATE_ENV
from jupyterhub_imagine.links.hubconfig import wire_links

env = os.environ
state = Path(env["IMAGINE_DEMO_DIR"])
port = int(env.get("IMAGINE_DEMO_PORT", "8000"))
public_url = f"http://127.0.0.1:{port}"
vo = "urn:mace:egi.eu:group:vo.imagine.example"

c = get_config()  # type: ignore[name-defined]

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env.get("IMAGINE_DEMO_HUB_PORT", "8081"))
proxy_api_port = env.get("IMAGINE_DEMO_PROXY_API_PORT", "8001")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

# --- Authentication: the development provider, shaped like EGI Check-in ---------------------------
c.JupyterHub.authenticator_class = "imagine"
c.ImagineOAuthenticator.preset = "egi-checkin"
c.ImagineOAuthenticator.issuer = env["IMAGINE_DEMO_ISSUER"]
c.ImagineOAuthenticator.client_id = env["IMAGINE_DEMO_CLIENT_ID"]
c.ImagineOAuthenticator.client_secret = env["IMAGINE_DEMO_CLIENT_SECRET"]
c.ImagineOAuthenticator.oauth_callback_url = f"{public_url}/hub/oauth_callback"
c.ImagineOAuthenticator.allowed_rules = [vo]
c.ImagineOAuthenticator.admin_rules = [f"{vo}:role=manager"]
# Check-in's preferred_username is not unique (production keeps the voperson_id default); the demo
# has one provider, so short names make its URLs readable.
c.ImagineOAuthenticator.username_claim = "preferred_username"
c.ImagineOAuthenticator.capabilities = {"gpu": [f"{vo}:gpu"]}
c.ImagineOAuthenticator.enrollment_url = "https://example.org/enrol/vo.imagine.example"

# --- Spawning: local processes, profiles from this machine's GPUs (or simulated ones) -------------
# The demo runner picks the NVML module: the machine's own GPUs, or the simulated ones when it has
# none (jupyterhub_imagine.demo.gpus); both the spawner and the servers read the same one.
nvml_module = env.get("IMAGINE_DEMO_NVML") or nvml_module_for_demo()
simulated = nvml_module == SIMULATED_MODULE
c.JupyterHub.spawner_class = SimulatedGPUSpawner if simulated else "imagine-local"
c.ImagineLocalSpawner.nvml_module = nvml_module
c.ImagineLocalSpawner.home_dir_template = str(state / "home" / "{username}")
c.Spawner.default_url = "/lab"
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
# Lets the labextension's "Save and stop" (answering a cull warning) stop this server, no more.
c.Spawner.oauth_client_allowed_scopes = ["delete:servers!server"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []

# The servers' own settings, in a config file of their own: the NVML module, the demo's CVMFS-shaped
# software tree and its WebDAV storage (plain http on loopback, hence the insecure host).
server_config_dir = state / "server-config"
server_config_dir.mkdir(exist_ok=True)
server_config = {
    "ImagineServerExtension": {"nvml_module": nvml_module, "insecure_http_hosts": ["127.0.0.1"]},
    "ImagineSoftwareCatalog": {"root": env.get("IMAGINE_DEMO_CVMFS", str(state / "cvmfs"))},
    "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
}
# no "get notified about Jupyter news?" question on a demo machine that may be offline
(server_config_dir / "labconfig").mkdir(exist_ok=True)
(server_config_dir / "labconfig" / "page_config.json").write_text(
    json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
)
if env.get("IMAGINE_DEMO_MOUNTS"):
    server_config["ImagineMountManager"] = {"predefined": json.loads(env["IMAGINE_DEMO_MOUNTS"])}
(server_config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config, indent=1))
c.Spawner.environment = {"JUPYTER_CONFIG_PATH": str(server_config_dir)}
if simulated:
    c.Spawner.environment[STATE_ENV] = str(state / "simulated-gpus")

# --- The idle-GPU culler, as a hub service with only the scopes it needs -------------------------
DEMO_CULLING = {
    "cull_every": 10,
    "gpu_idle_timeout": 120,
    "warning_lead": 180,
    "postpone_by": 300,
    "presence_timeout": 120,
    # a JSON object in $IMAGINE_DEMO_CULLING changes it (the tests make it faster still)
    **json.loads(env.get("IMAGINE_DEMO_CULLING") or "{}"),
}
c.JupyterHub.services = [
    {
        "name": "imagine-culler",
        "command": [
            str(Path(sys.executable).with_name("jupyterhub-imagine-culler")),
            "--IdleGPUCuller.activity_source=server",
            # a demo-fast policy: warn after 2 idle minutes, stop 3 minutes later
            *(f"--IdleGPUCuller.{k}={v}" for k, v in DEMO_CULLING.items()),
            f"--IdleGPUCuller.db_url=sqlite:///{state / 'culler.sqlite'}",
        ],
        # user servers are reached through the proxy, like a browser reaches them
        "environment": {"JUPYTERHUB_IMAGINE_SERVERS_URL": public_url},
        # its metrics and the warnings shown on the hub's home page
        "url": f"http://127.0.0.1:{env.get('IMAGINE_DEMO_CULLER_PORT', '8002')}",
        "oauth_no_confirm": True,
    }
]
# its role and scopes, users' access to their warnings, the home page showing them
wire_culler(c)
# Binder-style launch links (/hub/imagine/launch, /hub/imagine/v2/...; docs/links.md), and a git
# server on loopback (plain http) with a sample repository for them, run by the hub as a service
wire_links(c)
c.ImagineLinks.http_hosts = ["127.0.0.1"]
git_port = int(env.get("IMAGINE_DEMO_GIT_PORT") or port + 3)
c.JupyterHub.services.append(
    {
        "name": "imagine-demo-git",
        "command": [sys.executable, "-m", "jupyterhub_imagine.demo.gitserver",
                    str(state / "git"), str(git_port)],
    }
)

extra = env.get("IMAGINE_DEMO_EXTRA_CONFIG")
if extra:
    load_subconfig(extra)  # type: ignore[name-defined]
