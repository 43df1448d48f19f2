"""Which tree-sitter grammar parses a file, and which of its nodes become chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

__all__ = ["LANGUAGES", "LangSpec", "language_for"]


@dataclass(frozen=True)
class LangSpec:
    """Node types of one grammar that the chunker turns into chunks."""

    name: str
    """Grammar name in tree-sitter-language-pack."""
    leaves: dict[str, str]
    """Node type -> chunk kind for definitions chunked whole (functions, type declarations)."""
    containers: dict[str, str] = field(default_factory=dict)
    """Node type -> kind for definitions whose members become chunks of their own."""
    wrappers: dict[str, str] = field(default_factory=dict)
    """Node type -> field holding the definition it wraps (decorators, ``export``)."""
    assignments: frozenset[str] = frozenset()
    """Declarations that define a function when their value is one (``const f = () => 1``)."""
    function_values: frozenset[str] = frozenset()
    """Value node types that make an assignment a function definition."""
    member_lists: frozenset[str] = frozenset()
    """Nodes inside a container body whose children are members too (Java enum bodies)."""
    identifiers: frozenset[str] = frozenset({"identifier"})
    """Node types that name things; their text feeds the repository map's references."""


_PY = LangSpec(
    name="python",
    leaves={"function_definition": "function"},
    containers={"class_definition": "class"},
    wrappers={"decorated_definition": "definition"},
    identifiers=frozenset({"identifier"}),
)

_JS_LEAVES = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "method_definition": "method",
}
_JS_IDENTS = frozenset(
    {"identifier", "property_identifier", "type_identifier", "shorthand_property_identifier"}
)
_JS = LangSpec(
    name="javascript",
    leaves=_JS_LEAVES,
    containers={"class_declaration": "class"},
    wrappers={"export_statement": "declaration"},
    assignments=frozenset({"lexical_declaration", "variable_declaration"}),
    function_values=frozenset({"arrow_function", "function_expression", "function", "class"}),
    identifiers=_JS_IDENTS,
)
_TS_LEAVES = {
    **_JS_LEAVES,
    "function_signature": "function",
    "interface_declaration": "type",
    "type_alias_declaration": "type",
    "enum_declaration": "type",
}
_TS_CONTAINERS = {
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "internal_module": "module",
}


def _ts(name: str) -> LangSpec:
    return LangSpec(
        name=name,
        leaves=_TS_LEAVES,
        containers=_TS_CONTAINERS,
        wrappers={"export_statement": "declaration"},
        assignments=_JS.assignments,
        function_values=_JS.function_values,
        identifiers=_JS_IDENTS,
    )


_GO = LangSpec(
    name="go",
    leaves={
        "function_declaration": "function",
        "method_declaration": "method",
        "type_declaration": "type",
    },
    identifiers=frozenset({"identifier", "field_identifier", "type_identifier"}),
)
_RUST = LangSpec(
    name="rust",
    leaves={
        "function_item": "function",
        "struct_item": "type",
        "enum_item": "type",
        "union_item": "type",
        "type_item": "type",
        "macro_definition": "function",
    },
    containers={"impl_item": "class", "trait_item": "class", "mod_item": "module"},
    identifiers=frozenset({"identifier", "field_identifier", "type_identifier"}),
)
_JAVA = LangSpec(
    name="java",
    leaves={"method_declaration": "method", "constructor_declaration": "method"},
    containers={
        "class_declaration": "class",
        "interface_declaration": "class",
        "enum_declaration": "class",
        "record_declaration": "class",
        "annotation_type_declaration": "class",
    },
    member_lists=frozenset({"enum_body_declarations"}),
    identifiers=frozenset({"identifier", "type_identifier"}),
)

#: File suffix -> grammar spec.
LANGUAGES: dict[str, LangSpec] = {
    ".py": _PY,
    ".pyi": _PY,
    ".js": _JS,
    ".jsx": _JS,
    ".mjs": _JS,
    ".cjs": _JS,
    ".ts": _ts("typescript"),
    ".mts": _ts("typescript"),
    ".cts": _ts("typescript"),
    ".tsx": _ts("tsx"),
    ".go": _GO,
    ".rs": _RUST,
    ".java": _JAVA,
}


def language_for(path: str) -> LangSpec | None:
    """The grammar spec for ``path`` by suffix, or ``None`` (chunked in line windows)."""
    return LANGUAGES.get(PurePosixPath(path).suffix.lower())
