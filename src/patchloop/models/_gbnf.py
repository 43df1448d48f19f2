"""GBNF grammars for constrained decoding: JSON schemas turned into grammars that emit strict JSON.

llama-cpp-python's schema converter lets string characters be anything but ``"`` and ``\\``, so
a constrained model can put raw control characters (a tab, a newline, NUL) inside a string.
``json.loads`` rejects those, and so does every strict JSON reader. :func:`strict_json_grammar`
converts the schema the same way and then narrows the string-character rules to what JSON allows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from patchloop.errors import BadRequest

__all__ = ["STRICT_CHAR", "make_strict", "strict_json_grammar"]

#: A JSON string character: anything but a quote, a backslash, DEL and the C0 controls.
STRICT_CHAR = r'[^"\\\x7F\x00-\x1F]'

# ``char`` is the converter's string-character rule; ``dot`` stands for ``.`` in a schema's
# ``pattern``, which may also land inside a JSON string.
_CHAR_RULE = re.compile(r'^char ::= \[\^"\\\\\](?= \|)', re.MULTILINE)
_DOT_RULE = re.compile(r"^dot ::= .*$", re.MULTILINE)


def make_strict(gbnf: str) -> str:
    """``gbnf`` with its ``char`` and ``dot`` rules narrowed to strict-JSON string characters."""
    fixed = _CHAR_RULE.sub(lambda _: f"char ::= {STRICT_CHAR}", gbnf)
    return _DOT_RULE.sub(lambda _: f"dot ::= {STRICT_CHAR}", fixed)


def strict_json_grammar(schema: Mapping[str, Any]) -> str:
    """GBNF for documents valid under ``schema`` that also pass strict ``json.loads``.

    Raises :class:`~patchloop.errors.BadRequest` when the converter cannot handle the schema.
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        gbnf = json_schema_to_gbnf(json.dumps(dict(schema)))
    except Exception as exc:  # the converter raises assorted errors for unsupported schemas
        raise BadRequest(
            f"cannot turn the output schema into a grammar: {type(exc).__name__}: {exc}",
            hint="simplify the schema (no remote $ref, no unsupported keywords)",
        ) from exc
    strict = make_strict(gbnf)
    char = re.search(r"^char ::= (.*)$", strict, re.MULTILINE)
    if char is not None and not char.group(1).startswith(STRICT_CHAR):
        # A converter release with a differently written rule; never fail open.
        raise BadRequest(
            "the schema grammar admits control characters in strings",
            hint="pin llama-cpp-python to the version patchloop[local] names",
        )
    return strict
