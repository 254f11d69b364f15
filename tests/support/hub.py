"""Run the demo stack (provider + real JupyterHub + local servers) for tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jupyterhub_imagine.demo.stack import DemoSettings, DemoStack

from . import fake_nvml
from .net import free_port

REPO = Path(__file__).resolve().parents[2]

# The hub and its servers import the FAKE NVML module from the tests package: no GPU here.
FAKE_NVML_CONFIG = """
c.ImagineLocalSpawner.nvml_module = "tests.support.fake_nvml"
c.Spawner.environment = {{"IMAGINE_FAKE_NVML": {nvml!r}, "PYTHONPATH": {repo!r}}}
c.Spawner.args.extend([
    "--ImagineServerExtension.nvml_module=tests.support.fake_nvml",
    "--ImagineServerExtension.gpu_cache_seconds=0",
])
"""


def two_a100s(path: Path) -> None:
    fake_nvml.write_state(
        str(path), [fake_nvml.a100("GPU-fake-0", 41, 2**30), fake_nvml.a100("GPU-fake-1", 7)]
    )


@contextmanager
def demo_hub(tmp: Path, extra: str = "") -> Iterator[DemoStack]:
    """The `make demo` stack on free ports, with two FAKE A100s and ``extra`` hub config."""
    nvml = tmp / "nvml.json"
    two_a100s(nvml)
    config = tmp / "extra_config.py"
    config.write_text(FAKE_NVML_CONFIG.format(nvml=str(nvml), repo=str(REPO)) + extra)
    settings = DemoSettings(
        state_dir=tmp / "state",
        port=free_port(),
        provider_port=free_port(),
        hub_port=free_port(),
        proxy_api_port=free_port(),
        culler_port=free_port(),
        extra_config=config,
        env={
            "IMAGINE_FAKE_NVML": str(nvml),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        },
        hub_log=tmp / "hub.log",
    )
    stack = DemoStack(settings)
    try:
        stack.start()
    except Exception:
        print((tmp / "hub.log").read_text()[-5000:] if (tmp / "hub.log").exists() else "")
        raise
    try:
        yield stack
    finally:
        stack.stop()
