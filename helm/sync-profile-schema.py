#!/usr/bin/env python3
"""Copy the profile_list schema of the package into the chart's values.schema.json.

jupyterhub_imagine/spawner/profile_list.schema.json is the one schema of a profile list: the
spawners validate with it, and the chart carries it under jupyterhub.singleuser.profileList so
that a bad profile fails at `helm install`. Run after changing the schema (`make chart-schema`);
`--check` exits 1 when the chart's copy differs (tests/helm/test_profile_schema.py does the same).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from jupyterhub_imagine.spawner.profile_schema import CHART_PATH, chart_fragment

VALUES_SCHEMA = Path(__file__).resolve().parent / "jupyterhub-imagine" / "values.schema.json"


def with_fragment(values_schema: dict[str, Any]) -> dict[str, Any]:
    """``values_schema`` with the profile list schema at CHART_PATH (other keys kept)."""
    node = values_schema
    for key in CHART_PATH[:-1]:
        node = node.setdefault("properties", {}).setdefault(key, {"type": "object"})
    node.setdefault("properties", {})[CHART_PATH[-1]] = chart_fragment()
    return values_schema


def dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is in step")
    args = parser.parse_args()
    current = VALUES_SCHEMA.read_text(encoding="utf-8")
    wanted = dump(with_fragment(json.loads(current)))
    if args.check:
        if wanted != current:
            print(f"{VALUES_SCHEMA.name} is out of step with profile_list.schema.json: "
                  "run `make chart-schema`", file=sys.stderr)
            return 1
        return 0
    VALUES_SCHEMA.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
