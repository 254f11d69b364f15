"""ImagineServerExtension: the jupyter-server side of the bundle."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, List, Unicode, default
from traitlets.utils.importstring import import_item

from .. import contract
from ..gpu.nvml import GPUSampler, NVMLReader, load_nvml, visible_device_filter
from ..gpu.shared import SharedGPUSampler
from . import gpu, status
from .base import NoRouteHandler
from .mounts.manager import ImagineMountManager
from .software.catalog import ImagineSoftwareCatalog

API_PREFIX = contract.API_PREFIX


class ImagineServerExtension(ExtensionApp):
    """GPU status, culler warnings and presence for a user server."""

    name = "jupyterhub_imagine"
    load_other_extensions = True
    classes = [ImagineMountManager, ImagineSoftwareCatalog]

    nvml_module = Unicode(
        "pynvml",
        config=True,
        help="""Python module providing the NVML API (nvidia-ml-py's `pynvml`).

        Only tests change this, to a fake module with the same functions.""",
    )
    gpu_cache_seconds = Float(
        1.0,
        config=True,
        help="Seconds a GPU sample is reused, so many clients polling cost one NVML read.",
    )
    gpu_read_timeout = Float(
        2.0,
        config=True,
        help="""Seconds /gpu and /activity wait for the GPU driver before answering "unavailable"
        (a hung driver call never holds them longer, and is not retried until it returns).""",
    )
    profile = Unicode(
        config=True,
        help="Slug of the profile this server runs (default: $JUPYTERHUB_IMAGINE_PROFILE).",
    )
    culler_services = List(
        Unicode(),
        config=True,
        help="""Names of the hub services allowed to set and clear cull warnings on this server
        (the idle-GPU culler's service name). Users and other services get 403. Default: the
        name the spawner hands the server in $JUPYTERHUB_IMAGINE_CULLER_SERVICE, else
        'imagine-culler'.""",
    )
    culling_sample_every = Float(
        10.0,
        config=True,
        help="""Seconds between background GPU samples whose peak is reported to the culler, so
        GPU work between two culler cycles is not mistaken for idleness; 0: off.""",
    )
    clock = Unicode(
        "time.time",
        config=True,
        help="""Dotted name of the function giving the time (seconds since the epoch) of
        presence, warnings and "keep" answers. Only tests change it, to a FAKE clock.""",
    )
    hub_prefix = Unicode(
        config=True,
        help="URL prefix of the hub, used for share links (default: from $JUPYTERHUB_BASE_URL).",
    )

    mounts_enabled = Bool(
        True,
        config=True,
        help="""Offer the /mounts API (remote data over rclone/FUSE, configured through
        ImagineMountManager). Disable on images without FUSE.""",
    )
    insecure_http_hosts = List(
        Unicode(),
        config=True,
        help="""Hosts that storage mounts may reach over plain http:// (passwords and data then
        travel unencrypted), e.g. `["127.0.0.1"]` for a WebDAV server on the same machine.
        Every other mount URL must be https://. Default: none.""",
    )
    software_enabled = Bool(
        True,
        config=True,
        help="""Offer the /software API (CVMFS stacks, modules and images as kernels,
        configured through ImagineSoftwareCatalog).""",
    )

    @default("profile")
    def _profile_default(self) -> str:
        return os.environ.get(contract.ENV_PROFILE, "")

    @default("culler_services")
    def _culler_services_default(self) -> list[str]:
        return [contract.culler_service_from_env()]

    @default("hub_prefix")
    def _hub_prefix_default(self) -> str:
        base = os.environ.get("JUPYTERHUB_BASE_URL", "/")
        return base.rstrip("/") + "/hub/"

    def initialize_settings(self) -> None:
        reader = NVMLReader(load_nvml(self.nvml_module))
        sampler = GPUSampler(reader, visible_device_filter())
        self._gpu = SharedGPUSampler.over(
            sampler, cache_seconds=self.gpu_cache_seconds, timeout=self.gpu_read_timeout
        )
        self.settings.update(
            imagine_gpu_sampler=self._gpu,
            imagine_server_info={
                "profile": self.profile,
                "hub_prefix": self.hub_prefix,
                "user": os.environ.get("JUPYTERHUB_USER", ""),
                "server_name": os.environ.get("JUPYTERHUB_SERVER_NAME", ""),
                "features": ["gpu", "presence", "share"],
            },
        )
        self._init_culling()
        self._init_mounts()
        self._init_software()

    def _init_culling(self) -> None:
        from .culling.state import CullingState

        self.settings["imagine_culling"] = CullingState(
            culler_services=tuple(self.culler_services),
            sample_every=self.culling_sample_every,
            clock=import_item(self.clock),
        )
        from .culling.presence import ServerPresence  # execute, save, terminal: any client

        ServerPresence(self.settings["imagine_culling"]).attach(self.serverapp)

    def _init_mounts(self) -> None:
        if not self.mounts_enabled:
            return
        self._mounts = ImagineMountManager(
            parent=self, insecure_http_hosts=list(self.insecure_http_hosts)
        )
        self._mounts.start()
        self.settings["imagine_mounts"] = self._mounts
        self.settings["imagine_server_info"]["features"].append("mounts")

    def _init_software(self) -> None:
        if not self.software_enabled:
            return
        self.settings["imagine_software"] = ImagineSoftwareCatalog(parent=self)
        self.settings["imagine_server_info"]["features"].append("software")

    def initialize_handlers(self) -> None:
        from .culling import handlers as culling
        from .gitshare import handlers as gitshare
        from .mounts import handlers as mounts
        from .software import handlers as software

        routes: list[tuple[str, Any]] = [*status.handlers, *gpu.handlers]
        routes += list(culling.handlers)
        routes += list(mounts.handlers) + list(software.handlers)
        routes += list(gitshare.handlers)
        self.handlers.extend((rf"/{API_PREFIX}/{suffix}", handler) for suffix, handler in routes)
        # last: anything else under the prefix answers a JSON 404, not the server's HTML page
        self.handlers.append((rf"/{API_PREFIX}(?:/.*)?", NoRouteHandler))

    async def stop_extension(self) -> None:
        self.settings["imagine_culling"].stop_sampling()
        gpu = getattr(self, "_gpu", None)
        if gpu is not None:
            gpu.close()
        mounts = getattr(self, "_mounts", None)
        if mounts is not None:
            await mounts.stop_all()
        software = self.settings.get("imagine_software")
        if software is not None:
            software.close()
