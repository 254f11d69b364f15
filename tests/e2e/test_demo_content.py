"""What the demo lays out for the Software and Data panels, and its clean-up helpers, for real:
the software tree read by the server extension's own CVMFS code, the storage served by rclone."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from jupyterhub_imagine.demo import content
from jupyterhub_imagine.demo.leftovers import clean_up_leftovers, fuse_mounts_under
from jupyterhub_imagine.serverext.software import cvmfs, modules
from tests.support.net import free_port

DEFAULT_GLOBS = ["software/*/*/modules/all", "software/*/*/*/modules/all"]


def test_the_software_tree_has_a_stack_with_modules_and_images(tmp_path: Path) -> None:
    root = str(content.lay_out_cvmfs(tmp_path / "cvmfs"))
    names = cvmfs.repository_names(root, [])
    assert names == sorted([content.CVMFS_REPO, content.IMAGE_REPO])
    assert all(cvmfs.probe_repository(root, n).state == cvmfs.MOUNTED for n in names)
    [stack] = cvmfs.find_stacks(root, content.CVMFS_REPO)
    assert (stack.name, stack.version) == (content.CVMFS_REPO, content.STACK_VERSION)
    found = modules.scan_catalog(modules.module_dirs(str(tmp_path / "cvmfs" / stack.id),
                                                     DEFAULT_GLOBS))
    assert sorted(found) == sorted(content.MODULES)
    images = tmp_path / "cvmfs" / content.IMAGE_REPO / "images"
    assert sorted(p.name for p in images.iterdir()) == sorted(
        Path(i).name for i in content.IMAGES)


def test_each_home_gets_the_training_notebook_once(tmp_path: Path) -> None:
    content.lay_out_homes(tmp_path, ["alice", "bob"])
    notebook = tmp_path / "alice" / "train-on-the-gpu.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    assert "train(" in cells[1]["source"]
    notebook.write_text("edited")
    content.lay_out_homes(tmp_path, ["alice"])
    assert notebook.read_text() == "edited"  # a user's edits survive a restart


@pytest.mark.skipif(shutil.which("rclone") is None, reason="needs rclone")
def test_the_storage_serves_its_files_on_loopback_and_stops(tmp_path: Path) -> None:
    folder = content.lay_out_storage(tmp_path / "storage")
    storage = content.WebDAVStorage(folder, free_port(), tmp_path / "webdav.log")
    storage.start()
    try:
        with urllib.request.urlopen(storage.url + "measurements.csv", timeout=5) as reply:
            assert reply.read().startswith(b"sample,temperature_K")
        [mount] = content.predefined_mounts(storage)
        assert mount["url"].startswith("http://127.0.0.1:") and mount["auth"] == "none"
    finally:
        proc = storage.proc
        storage.stop()
    assert proc is not None and proc.poll() is not None


def test_clean_up_finds_nothing_where_nothing_was_left(tmp_path: Path) -> None:
    assert fuse_mounts_under(tmp_path) == []
    assert clean_up_leftovers(tmp_path) == []
