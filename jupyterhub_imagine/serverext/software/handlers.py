"""REST handlers for /software (reads are polls, writes are activity)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..base import ImagineAPIHandler
from ..validation import UserError, check_int_arg
from .catalog import ImagineSoftwareCatalog

SETTINGS_KEY = "imagine_software"


class _SoftwareBase(ImagineAPIHandler):
    @property
    def catalog(self) -> ImagineSoftwareCatalog:
        catalog = self.settings.get(SETTINGS_KEY)
        if catalog is None:
            raise UserError("software is not enabled on this server", "disabled", status=404)
        return catalog  # type: ignore[no-any-return]

    def limit(self) -> int:
        c = self.catalog
        return check_int_arg(
            self.query("limit"), "limit", default=c.page_size, low=1, high=c.max_page_size
        )


class RepositoriesHandler(_SoftwareBase):
    """GET: the CVMFS root and each repository's health."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        repos = await self.catalog.list_repositories()
        self.finish({"root": self.catalog.root, "repositories": repos})


class StacksHandler(_SoftwareBase):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish({"stacks": await self.catalog.list_stacks()})


class ModulesHandler(_SoftwareBase):
    """GET ?stack=<id>&offset=&limit=: modules of a stack (or of the server's MODULEPATH)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        offset = check_int_arg(self.query("offset"), "offset", default=0, low=0, high=10**7)
        result = await self.catalog.list_modules(self.query("stack"), offset, self.limit())
        self.finish(result)


class BrowseHandler(_SoftwareBase):
    """GET ?path=&cursor=&limit=&kind=all|image|dir: one page of a directory, lazily read."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        page = await self.catalog.browse(
            self.query("path"), self.query("cursor"), self.limit(), self.query("kind") or "all"
        )
        self.finish(page)


class KernelsHandler(_SoftwareBase):
    """GET: kernels made here. POST {kind, id, modules, display_name}: make one (201)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish({"kernels": self.catalog.list_kernels()})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        created = self.catalog.create_kernel(self.json_body())
        self.set_status(201)
        self.finish(created)


class KernelHandler(_SoftwareBase):
    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        self.catalog.delete_kernel(name)
        self.set_status(204)
        self.finish()


handlers: list[tuple[str, type[ImagineAPIHandler]]] = [
    ("software", RepositoriesHandler),
    ("software/stacks", StacksHandler),
    ("software/modules", ModulesHandler),
    ("software/browse", BrowseHandler),
    ("software/kernels", KernelsHandler),
    ("software/kernels/([^/]+)", KernelHandler),
]
