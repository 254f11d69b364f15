"""``profile_list`` checked against profile_list.schema.json, the schema the chart carries too.

The schema says what a shape must be; this module turns its failures into named messages
(``profile_list[2] (gpu): gpu.count must be a non-negative integer``) and adds what a schema
cannot say (slugs used twice, regular expressions Python cannot compile, options without
anything to choose).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("profile_list.schema.json")
#: where values.schema.json of the chart carries the schema
CHART_PATH = ("jupyterhub", "singleuser", "profileList")
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
}


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def _validator() -> Draft7Validator:
    return Draft7Validator(schema())


def chart_fragment() -> dict[str, Any]:
    """The schema as values.schema.json embeds it (no ``$schema``: it is not a document root)."""
    return {k: v for k, v in schema().items() if k != "$schema"}


def _dotted(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _label(item: Any, position: int) -> str:
    where = f"profile_list[{position}]"
    if not isinstance(item, Mapping):
        return where
    slug = item.get("slug") or item.get("display_name")
    if not isinstance(slug, str) or not slug:
        return where
    from .profiles import slugify  # profiles imports this module

    return f"{where} ({item.get('slug') or slugify(slug)})"


def _phrase(error: ValidationError) -> str:
    """What is wrong at ``error``'s path, in the words of the schema's ``errorMessage``."""
    instance, value = error.instance, error.validator_value
    if error.validator == "required":
        missing = [name for name in value if name not in instance]
        return f"{', '.join(repr(m) for m in missing)} is required"
    message = error.schema.get("errorMessage")
    if error.validator == "pattern" and isinstance(instance, str):
        return f"{message or f'must match {value}'}, not {instance!r}"
    if message:
        return str(message)
    if error.validator == "type":
        types = [value] if isinstance(value, str) else value
        return "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in types if t != "null")
    return error.message


def _unknown_keys(error: ValidationError, rest: list[Any]) -> str:
    known = sorted(error.schema.get("properties") or {})
    unknown = sorted(str(k) for k in error.instance if k not in known)
    inside = f" in {_dotted(rest)!r}" if rest else ""
    return f"unknown key(s){inside}: {unknown} (known: {', '.join(known)})"


def _problem(error: ValidationError, items: Sequence[Any]) -> str:
    path = list(error.absolute_path)
    if not path:
        return f"profile_list {_phrase(error)}"
    position, rest = int(path[0]), path[1:]
    where = _label(items[position], position)
    if error.validator == "additionalProperties" and error.schema.get("properties"):
        return f"{where}: {_unknown_keys(error, rest)}"
    return f"{where}: {_dotted(rest)} {_phrase(error)}" if rest else f"{where}: {_phrase(error)}"


def _order(error: ValidationError) -> tuple[Any, ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.path)


def schema_problems(items: Sequence[Any]) -> list[str]:
    """Each way ``items`` (the list form) breaks the schema, first profile first.

    Spawners parse their profiles at every form and spawn, and validation costs milliseconds:
    results are kept per content. The schema sees the items as JSON (callables in overrides as
    their repr), so a cached and a fresh answer are the same.
    """
    try:
        dumped = json.dumps(list(items), default=repr)
    except (TypeError, ValueError) as exc:  # keys that are not text, a list inside itself
        return [f"profile_list must be plain data (text keys, no cycles): {exc}"]
    return list(_problems_of(dumped))


@lru_cache(maxsize=64)
def _problems_of(dumped: str) -> tuple[str, ...]:
    items = json.loads(dumped)
    errors = sorted(_validator().iter_errors(items), key=_order)
    return tuple(_problem(e, items) for e in errors)


def _option_problems(where: str, name: str, spec: Mapping[str, Any]) -> list[str]:
    unlisted = spec.get("unlisted_choice") or {}
    problems = []
    if not spec.get("choices") and not unlisted.get("enabled"):
        problems.append(
            f"{where}: profile_options.{name} offers nothing to choose: give it choices or "
            "enable its unlisted_choice"
        )
    regex = unlisted.get("validation_regex")
    if regex:
        try:
            re.compile(regex)
        except re.error as exc:
            problems.append(
                f"{where}: profile_options.{name}.unlisted_choice.validation_regex is not a "
                f"regular expression Python understands ({exc})"
            )
    return problems


def semantic_problems(items: Sequence[Mapping[str, Any]], slugs: Sequence[str]) -> list[str]:
    """What the schema cannot check, for items that passed it; ``slugs`` as parsed."""
    problems = []
    seen: set[str] = set()
    for position, (item, slug) in enumerate(zip(items, slugs, strict=True)):
        where = f"profile_list[{position}] ({slug})"
        if slug in seen:
            problems.append(f"profile_list: slug {slug!r} is used twice")
        seen.add(slug)
        for name, spec in (item.get("profile_options") or {}).items():
            problems.extend(_option_problems(where, str(name), spec or {}))
    return problems
