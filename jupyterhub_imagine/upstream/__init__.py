"""Adapters around upstream projects' private details, one module per upstream project.

Nothing else in the package touches a private attribute of JupyterHub, KubeSpawner,
oauthenticator, jupyter-server or terminado: where upstream offers no public hook, the one use
lives here, next to a test in ``tests/upstream/`` that fails when the upstream signature changes,
and ``docs/upstream.md`` drafts the upstream issue or pull request that would let us drop it.
"""
