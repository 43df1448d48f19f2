"""Client-side validation of JSON replies: servers can ignore a schema and still answer 200."""

from __future__ import annotations

import json
from typing import Any

from patchloop.errors import BadOutput, UsageError

__all__ = ["validate_json_output"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def validate_json_output(text: str, schema: dict[str, Any] | None = None) -> Any:
    """Parse ``text`` strictly as one JSON document and validate it against ``schema``.

    Strict means the whole reply (surrounding whitespace aside) is the document: no code
    fences, no prose around it, no ``NaN``/``Infinity``, no raw control characters in strings.
    Raises :class:`~patchloop.errors.BadOutput` saying what is wrong.
    """
    try:
        value = json.loads(text.strip(), parse_constant=_reject_constant)
    except ValueError as exc:
        head = text.strip()[:80]
        raise BadOutput(
            f"reply is not valid JSON: {exc}; it starts with {head!r}",
            hint="reply with one JSON document only",
        ) from exc
    if schema is None:
        return value
    # Imported here: jsonschema costs ~60 ms, and most commands never validate JSON.
    import jsonschema
    from jsonschema.exceptions import SchemaError, best_match

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        error = best_match(cls(schema).iter_errors(value))
    except SchemaError as exc:
        raise UsageError(f"the output schema itself is invalid: {exc.message}") from exc
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise BadOutput(
            f"reply does not match the schema at {where}: {error.message}",
            hint="reply with JSON that follows the schema exactly",
        )
    return value
