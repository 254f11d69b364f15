from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that `jupyterhub_imagine` and `tests.support` import without an
# installed distribution.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.oidc import oidc_provider_factory  # noqa: E402, F401
