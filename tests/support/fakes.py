"""Which tests use a FAKE, so that each is marked ``@pytest.mark.fake`` (enforced at collection).

The project's rule: fakes only for what cannot run here (the Kubernetes API, NVML without a GPU,
Zero-to-JupyterHub's chart, a hub identity where no hub runs), each named FAKE in the test and
marked. What counts as a fake:

* a module of the test suite that says so on the first line of its docstring: "FAKE",
  "TEST DOUBLE" or "TEST STUB" (tests/support/fake_nvml.py, tests/spawner/fake_kube.py, the
  emulated cluster's api.py and kubelet.py, ...);
* anything named after one: an identifier containing ``fake`` or ``stub`` (any case), such as
  the ``fake_kubeconfig`` fixture or the ``STUB`` chart of tests/helm;
* a string naming a fake module (``"tests.support.fake_nvml"`` handed to a hub's servers).

A test uses a fake when its function (with its decorators, or its class), or any fixture it
requests, refers to one of these, directly or through helpers of the suite (names bound at the
top of a module under tests/, followed through imports). The analysis is static: it reads the
sources, it runs nothing.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
SEED_NAME = re.compile(r"fake|stub", re.IGNORECASE)
DECLARES = re.compile(r"\bFAKE\b|\bTEST DOUBLE\b|\bTEST STUB\b")


def module_name(path: Path) -> str | None:
    """``tests.x.y`` for a file under tests/, else None."""
    try:
        rel = path.resolve().relative_to(TESTS.parent)
    except ValueError:
        return None
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_path(name: str) -> Path | None:
    base = TESTS.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _tree(name: str) -> ast.Module | None:
    path = module_path(name)
    return ast.parse(path.read_text(), str(path)) if path else None


@functools.cache
def declares_fake(name: str) -> bool:
    """The module says it is a fake on its docstring's first line (test modules, conftests
    and this module describe fakes, they are none)."""
    last = name.rsplit(".", 1)[-1]
    if last.startswith("test_") or last == "conftest" or name == __name__:
        return False
    tree = _tree(name)
    doc = ast.get_docstring(tree) if tree else None
    return bool(doc and DECLARES.search(doc.strip().splitlines()[0]))


@functools.cache
def fake_modules() -> frozenset[str]:
    """Every module of the suite that declares itself a fake."""
    names = {module_name(p) for p in TESTS.rglob("*.py")}
    return frozenset(n for n in names if n and declares_fake(n))


def _absolute(module: str | None, level: int, current: str, is_package: bool) -> str:
    if not level:
        return module or ""
    base = current.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join(base + ([module] if module else []))


def _imports(name: str, tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    """Top-level name -> (module, attribute or None for the module itself)."""
    path = module_path(name)
    is_package = bool(path and path.name == "__init__.py")
    out: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name if alias.asname else alias.name.split(".")[0]
                out[alias.asname or target] = (target, None)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, name, is_package)
            for alias in node.names:
                out[alias.asname or alias.name] = (base, alias.name)
    return out


def refers_to_fake(node: ast.AST, tainted: set[str]) -> str | None:
    """The first fake ``node`` refers to: a tainted or fake-named identifier, or a string
    naming a fake module; None if it refers to none."""
    fakes = fake_modules()
    for sub in ast.walk(node):
        ident = sub.id if isinstance(sub, ast.Name) else getattr(sub, "attr", None)
        if isinstance(sub, ast.arg):
            ident = sub.arg
        if isinstance(ident, str) and (ident in tainted or SEED_NAME.search(ident)):
            return ident
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            hit = next((m for m in fakes if m in sub.value), None)
            if hit:
                return hit
    return None


def _bindings(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level names defined by a def, class or assignment."""
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        out[sub.id] = node
    return out


_IN_PROGRESS: set[str] = set()


@functools.cache
def tainted_names(name: str) -> frozenset[str]:
    """Top-level names of module ``name`` that are, or lead to, a fake."""
    tree = _tree(name)
    if tree is None or name in _IN_PROGRESS:
        return frozenset()
    _IN_PROGRESS.add(name)
    try:
        tainted = {n for n, src in _imports(name, tree).items() if _import_is_fake(*src)}
        bindings = _bindings(tree)
        changed = True
        while changed:
            changed = False
            for ident, node in bindings.items():
                if ident not in tainted and refers_to_fake(node, tainted):
                    tainted.add(ident)
                    changed = True
        return frozenset(tainted)
    finally:
        _IN_PROGRESS.discard(name)


def _import_is_fake(module: str, attr: str | None) -> bool:
    if not module.startswith("tests"):
        return False
    if attr is None:
        return declares_fake(module)
    if declares_fake(module) or declares_fake(f"{module}.{attr}"):
        return True
    if attr == "*":
        return bool(tainted_names(module))
    return attr in tainted_names(module)


@functools.cache
def function_fake(func: Any, fixture: bool = False) -> str | None:
    """What fake the function (a test, or a fixture of the suite) refers to, if any. A
    fixture named after a fake (``fake_kubeconfig``) is one."""
    func = inspect.unwrap(func)
    try:
        path = Path(inspect.getsourcefile(func) or "")
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    name = module_name(path)
    if name is None:
        return None
    if fixture and SEED_NAME.search(func.__name__):
        return func.__name__
    if declares_fake(name) and not Path(path).name.startswith("test_"):
        return name
    return refers_to_fake(ast.parse(source), set(tainted_names(name)))


def item_fake(item: Any) -> str | None:
    """What fake a collected test uses (itself, its class or a fixture), if any."""
    found = function_fake(item.function) if hasattr(item, "function") else None
    if found is None and getattr(item, "cls", None) is not None:
        found = _class_fake(item.cls)
    infos = getattr(item, "_fixtureinfo", None)
    for fixture in infos.name2fixturedefs if infos and found is None else ():
        for definition in infos.name2fixturedefs[fixture]:
            found = found or function_fake(definition.func, fixture=True)
    return found


@functools.cache
def _class_fake(cls: type) -> str | None:
    try:
        path = Path(inspect.getsourcefile(cls) or "")
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return None
    name = module_name(path)
    return refers_to_fake(ast.parse(source), set(tainted_names(name))) if name else None


def unmarked(items: list[Any]) -> list[str]:
    """'nodeid (uses X)' for each test that uses a fake without the ``fake`` marker."""
    out = []
    for item in items:
        if item.get_closest_marker("fake") is None:
            found = item_fake(item)
            if found:
                out.append(f"{item.nodeid} (uses {found})")
    return out
