"""Shared fixtures: pytest-jupyter's real jupyter-server."""

pytest_plugins = ["pytest_jupyter.jupyter_server"]
