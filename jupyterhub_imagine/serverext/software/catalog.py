"""ImagineSoftwareCatalog: CVMFS repositories, stacks, modules, images, and their kernels."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from jupyter_core.paths import jupyter_data_dir
from traitlets import Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from ..validation import UserError, check_text, only_fields
from . import cvmfs, kernels, modules
from .listing import KINDS, DirectoryPager

T = TypeVar("T")
KINDS_OF_KERNEL = ("stack", "module", "image")


class ImagineSoftwareCatalog(LoggingConfigurable):
    """Lists community software published on CVMFS and turns a choice into a kernel."""

    root = Unicode("/cvmfs", config=True, help="Where CVMFS repositories are mounted.")
    repositories = List(
        Unicode(),
        config=True,
        help="""Repositories to show, e.g. `["software.eessi.io", "sft.cern.ch"]`. Empty: what
        the root lists (with autofs that is only the repositories already mounted).""",
    )
    module_globs = List(
        Unicode(),
        default_value=[
            "modules/all",
            "software/*/*/modules/all",
            "software/*/*/*/modules/all",
            "software/*/*/*/*/modules/all",
        ],
        config=True,
        help="Glob patterns, relative to a stack directory, of its modulefile directories.",
    )
    module_paths = List(
        Unicode(),
        config=True,
        help="Module directories offered without a stack (default: $MODULEPATH).",
    )
    lmod_command = Unicode(
        config=True,
        help="""Lmod's executable, used to list modules when present (default: $LMOD_CMD);
        without it modulefile directories are scanned.""",
    )
    lmod_init = Unicode(
        config=True,
        help="""Shell script that defines `module`, sourced by kernels that load modules
        without a stack (default: $LMOD_PKG/init/bash when Lmod is installed).""",
    )
    apptainer_command = Unicode(
        "apptainer", config=True, help="Apptainer (or Singularity) program for image kernels."
    )
    kernels_dir = Unicode(
        config=True,
        help="Where kernelspecs are written (default: the kernels folder of Jupyter's data dir).",
    )
    kernel_python = Unicode(
        config=True,
        help="Python (with ipykernel) that runs stack and module kernels (default: this one).",
    )
    probe_timeout = Float(5.0, config=True, help="Seconds a repository health check may take.")
    page_size = Int(200, config=True, help="Default number of entries per listing page.")
    max_page_size = Int(2000, config=True, help="Largest page a client may ask for.")

    @default("module_paths")
    def _module_paths_default(self) -> list[str]:
        return [p for p in os.environ.get("MODULEPATH", "").split(":") if p]

    @default("lmod_command")
    def _lmod_default(self) -> str:
        return os.environ.get("LMOD_CMD", "")

    @default("lmod_init")
    def _lmod_init_default(self) -> str:
        pkg = os.environ.get("LMOD_PKG", "")
        return os.path.join(pkg, "init", "bash") if pkg else ""

    @default("kernels_dir")
    def _kernels_dir_default(self) -> str:
        return os.path.join(jupyter_data_dir(), "kernels")

    @default("kernel_python")
    def _python_default(self) -> str:
        return sys.executable

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="imagine-software")
        self.pager = DirectoryPager()

    def close(self) -> None:
        self.pager.close()
        self._io.shutdown(wait=False, cancel_futures=True)

    async def _run(self, func: Any, *args: Any, timeout: float | None = None) -> Any:
        future = asyncio.get_running_loop().run_in_executor(self._io, partial(func, *args))
        return await asyncio.wait_for(future, timeout)

    async def list_repositories(self) -> list[dict[str, str]]:
        names = await self._run(cvmfs.repository_names, self.root, list(self.repositories))

        async def one(name: str) -> dict[str, str]:
            try:
                repo = await self._run(
                    cvmfs.probe_repository, self.root, name, timeout=self.probe_timeout
                )
            except asyncio.TimeoutError:
                repo = cvmfs.Repository(name, cvmfs.BROKEN, "ETIMEDOUT", "No answer in time.")
            return dict(repo.__dict__)

        return list(await asyncio.gather(*(one(n) for n in names)))

    async def list_stacks(self) -> list[dict[str, str]]:
        repos = [r for r in await self.list_repositories() if r["state"] == cvmfs.MOUNTED]
        found: list[dict[str, str]] = []
        for repo in repos:
            stacks = await self._run(cvmfs.find_stacks, self.root, repo["name"])
            found += [s.to_dict() for s in stacks]
        return found

    def _module_dirs(self, stack_id: str | None) -> list[str]:
        if not stack_id:
            return list(self.module_paths)
        stack = cvmfs.stack_for(self.root, stack_id)
        return modules.module_dirs(cvmfs.resolve(self.root, stack.id), list(self.module_globs))

    async def list_modules(self, stack_id: str | None, offset: int, limit: int) -> dict[str, Any]:
        dirs = await self._run(self._module_dirs, stack_id)
        lmod = self.lmod_command
        if lmod and os.access(lmod, os.X_OK):
            names, source = await self._run(modules.lmod_avail, lmod, dirs), "lmod"
        else:
            names, source = await self._run(modules.scan_catalog, dirs), "catalog"
        return {
            "stack": stack_id or None,
            "source": source,
            "total": len(names),
            "offset": offset,
            "modules": names[offset : offset + limit],
        }

    async def browse(self, path: str | None, cursor: str | None, limit: int, kind: str) -> dict:
        if kind not in KINDS:
            raise UserError(f"'kind' must be one of {', '.join(KINDS)}", "invalid-query")
        folder = cvmfs.resolve(self.root, path, "path")
        page = await self._run(self.pager.page, folder, cursor, limit, kind)
        return {"path": path or "", **page}

    def create_kernel(self, body: dict[str, Any]) -> dict[str, Any]:
        """Write a kernelspec for a stack (+ modules), modules alone, or an image."""
        only_fields(body, {"kind", "id", "modules", "display_name"}, "a kernel")
        kind = body.get("kind")
        if kind not in KINDS_OF_KERNEL:
            raise UserError(f"'kind' must be one of {', '.join(KINDS_OF_KERNEL)}", "invalid-kind")
        names = body.get("modules", [])
        if not isinstance(names, list) or len(names) > 50:
            raise UserError("'modules' must be a list of at most 50 names", "invalid-module")
        mods = [modules.check_module(m) for m in names]
        options = self._kernel_options(kind, body.get("id"), mods)
        default_display = options.pop("default_display")
        display = body.get("display_name")
        display = check_text(
            default_display if display in (None, "") else display, "display_name", 120
        )
        spec = kernels.build_kernelspec(
            kind=kind,
            display_name=display,
            python=self.kernel_python,
            modules=mods,
            apptainer=self.apptainer_command,
            **options,
        )
        name = kernels.kernel_name(kind, options["ident"], mods)
        kernels.write_kernelspec(self.kernels_dir, name, spec)
        self.log.info("software: kernel %s created for %s %s", name, kind, options["ident"])
        return {
            "name": name,
            "display_name": display,
            "kind": kind,
            "id": options["ident"],
            "modules": mods,
        }

    def _kernel_options(self, kind: str, ident: Any, mods: list[str]) -> dict[str, Any]:
        if kind == "stack":
            stack = cvmfs.stack_for(self.root, ident)
            return {
                "ident": stack.id,
                "init": cvmfs.resolve(self.root, stack.init),
                "default_display": f"{stack.name} {stack.version}",
            }
        if kind == "module":
            if not mods:
                raise UserError("choose at least one module", "invalid-module")
            if not self.lmod_init or not os.path.isfile(self.lmod_init):
                raise UserError(
                    "Lmod is not installed in this server's image: pick a stack, whose init "
                    "script provides the module command",
                    "lmod-missing",
                    status=501,
                )
            return {
                "ident": "",
                "init": self.lmod_init,
                "default_display": "Modules: " + ", ".join(mods)[:100],
            }
        if mods:
            raise UserError("modules cannot be loaded into a container kernel", "invalid-module")
        path = cvmfs.resolve(self.root, ident)
        if not ident or not path.endswith(".sif") or not os.path.isfile(path):
            raise UserError(f"no Apptainer image (.sif) at {ident!r}", "not-an-image", status=404)
        if shutil.which(self.apptainer_command) is None:
            raise UserError(
                "container kernels need Apptainer, which is not installed in this server's "
                "image; ask your administrator",
                "apptainer-missing",
                status=501,
            )
        return {
            "ident": ident,
            "image": path,
            "default_display": f"Container {os.path.basename(path)}",
        }

    def list_kernels(self) -> list[dict[str, Any]]:
        return kernels.list_kernelspecs(self.kernels_dir)

    def delete_kernel(self, name: str) -> None:
        kernels.delete_kernelspec(self.kernels_dir, name)
        self.log.info("software: kernel %s deleted", name)
