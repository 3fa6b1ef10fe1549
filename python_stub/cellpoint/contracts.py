"""The contracts both hosts share, as JSON Schemas: the tables (`tables.schema.json`) and the
comm messages of the tracking job (`job-messages.schema.json`) and of the review viewer
(`review-messages.schema.json`).

They live in the repository's `schema/`, which the browser's code imports; the wheel carries
them as `cellpoint/schema/` (pyproject.toml). A source checkout reads them where they live.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


@cache
def load(name: str) -> dict[str, Any]:
    """The schema `name` (e.g. "tables.schema.json"), parsed."""
    packaged = resources.files("cellpoint") / "schema" / name
    if packaged.is_file():
        text = packaged.read_text(encoding="utf-8")
    else:
        text = (Path(__file__).resolve().parents[2] / "schema" / name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def message_check(
    name: str, direction: str, error: type[ValueError]
) -> Callable[[Any], dict[str, Any]]:
    """A check of messages against schema `name`'s definition `direction` (e.g. "toKernel"):
    the message if it keeps the contract, else `error` saying how it breaks it."""
    import jsonschema  # only where messages come: a headless user never loads it

    schema = load(name)
    validator = jsonschema.Draft7Validator(
        {"definitions": schema["definitions"], "$ref": f"#/definitions/{direction}"}
    )

    def check(message: Any) -> dict[str, Any]:
        errors = sorted(validator.iter_errors(message), key=lambda e: list(e.path))
        if errors:
            kind = message.get("type") if isinstance(message, dict) else None
            raise error(f"malformed {kind!r} message: {_reason(errors[0])}")
        checked: dict[str, Any] = message
        return checked

    return check


def _reason(failure: Any) -> str:
    """What is wrong, said of the message's own kind: of the kinds a `oneOf` offers, the one
    whose `type` the message has (else the schema's own words)."""
    by_branch: dict[int, list[Any]] = {}
    for inner in failure.context or ():
        by_branch.setdefault(inner.relative_schema_path[0], []).append(inner)
    for inner in by_branch.values():
        if not any(list(e.path) == ["type"] for e in inner):
            return _reason(min(inner, key=lambda e: list(e.path)))
    return str(failure.message)
