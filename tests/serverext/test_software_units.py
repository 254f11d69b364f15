"""Pure parts of software: repository health, stack layouts, modules, kernelspecs, launcher."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

from jupyterhub_imagine.serverext.software import cvmfs, kernels, launcher, modules
from jupyterhub_imagine.serverext.software.listing import DirectoryPager
from jupyterhub_imagine.serverext.validation import UserError


@pytest.mark.parametrize(
    ("err", "empty", "state", "code"),
    [
        (None, False, "mounted", ""),
        (None, True, "missing", ""),
        (errno.ENOENT, False, "missing", "ENOENT"),
        (errno.ELOOP, False, "broken", "ELOOP"),
        (errno.ENOTCONN, False, "broken", "ENOTCONN"),
        (errno.EIO, False, "broken", "EIO"),
    ],
)
def test_repository_classification(err: int | None, empty: bool, state: str, code: str) -> None:
    repo = cvmfs.classify_repository("r", err, empty)
    assert (repo.state, repo.error) == (state, code)


def test_stack_layouts() -> None:
    eessi = cvmfs.stack_from_layout("software.eessi.io", ("versions", "2023.06"))
    assert eessi and eessi.init == "software.eessi.io/versions/2023.06/init/bash"
    lcg = cvmfs.stack_from_layout("sft.cern.ch", ("lcg", "views", "LCG_105", "x86_64-el9"))
    assert lcg and lcg.kind == "lcg" and lcg.init.endswith("LCG_105/x86_64-el9/setup.sh")
    assert cvmfs.stack_from_layout("r", ("something", "else")) is None


def test_resolve_refuses_symlink_escapes(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    os.symlink("/etc", tmp_path / "repo" / "out")
    assert cvmfs.resolve(str(tmp_path), "repo") == str(tmp_path.resolve() / "repo")
    with pytest.raises(UserError):
        cvmfs.resolve(str(tmp_path), "repo/out")


def test_lmod_terse_output_is_parsed() -> None:
    text = "/cvmfs/x/modules/all:\nGCC/12.3.0\nGCC/13.2.0 (D)\nPython/\nPython/3.11.3(L)\n"
    assert modules.parse_terse_avail(text) == ["GCC/12.3.0", "GCC/13.2.0", "Python/3.11.3"]
    with pytest.raises(UserError):
        modules.check_module("GCC/../../x")


def test_kernelspec_is_an_argument_list() -> None:
    spec = kernels.build_kernelspec(
        kind="stack",
        ident="r/versions/1",
        display_name="R 1",
        python="/py",
        init="/cvmfs/r/versions/1/init/bash",
        modules=["GCC/1"],
    )
    assert spec["argv"] == [
        "/py",
        "-m",
        kernels.LAUNCHER,
        "--init",
        "/cvmfs/r/versions/1/init/bash",
        "--module",
        "GCC/1",
        "--",
        "/py",
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
    ]
    name = kernels.kernel_name("stack", "r/versions/1", ["GCC/1"])
    assert kernels.KERNEL_NAME_RE.match(name)
    assert name != kernels.kernel_name("stack", "r/versions/1", [])


def test_launcher_applies_the_init_script_without_interpolating_paths(tmp_path: Path) -> None:
    weird = tmp_path / "dir with $(touch pwned) and ;"
    weird.mkdir()
    init = weird / "init.sh"
    init.write_text("export STACK_READY=yes\n")
    env = launcher.setup_environment(str(init), [])
    assert env["STACK_READY"] == "yes"
    assert not (Path.cwd() / "pwned").exists() and not (weird / "pwned").exists()
    assert launcher.kernel_argv(["python3", "-m", "k"], "/i.sif", "apptainer")[:3] == [
        "apptainer",
        "exec",
        "/i.sif",
    ]
    assert launcher.parse_env(b"A=1\0B=x=y\0_=/bin/env\0") == {"A": "1", "B": "x=y"}
    assert sys.executable


def test_pager_keeps_working_when_a_cursor_expired(tmp_path: Path) -> None:
    for i in range(25):
        (tmp_path / f"f{i:02d}").write_text("")
    pager = DirectoryPager(max_open=1)
    try:
        first = pager.page(str(tmp_path), None, 10)
        other = pager.page(str(tmp_path), None, 1)  # pushes the first cursor out
        assert other["next_cursor"]
        second = pager.page(str(tmp_path), first["next_cursor"], 100)
    finally:
        pager.close()  # the open cursor's directory handle
    names = [e["name"] for e in first["entries"] + second["entries"]]
    assert sorted(names) == [f"f{i:02d}" for i in range(25)] and second["next_cursor"] is None
