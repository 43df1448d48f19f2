"""Names used by a snippet of Python quoted in an issue: imports, calls, attributes.

A reproduction is the most precise part of a report: ``from astropy.modeling.separable import
separability_matrix`` names a module and a definition, ``xr.combine_by_coords(...)`` names a
function through an import alias. Snippets are often partial (output mixed in, a prompt, an
unclosed bracket), so a block that does not parse whole is parsed statement by statement and
the lines that still fail are skipped.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

__all__ = ["CodeNames", "code_names"]

#: Names every snippet uses that say nothing about the repository.
_COMMON = frozenset(dir(builtins)) | frozenset(
    {"self", "cls", "np", "pd", "plt", "os", "sys", "re", "numpy", "pandas", "math", "print"}
)
#: Parse at most this much of one block (pasted data can be huge).
_MAX_CHARS = 50_000


@dataclass
class CodeNames:
    """What one snippet names (alias-resolved where the snippet imports the alias)."""

    source: str = ""
    parsed: bool = False
    """Whether any statement of the snippet parsed as Python."""
    imports: list[tuple[str, str]] = field(default_factory=list)
    """``(module, name)`` of ``from module import name``; ``(module, "")`` for ``import``."""
    modules: list[str] = field(default_factory=list)
    """Dotted modules the snippet imports or reaches through an alias."""
    calls: list[str] = field(default_factory=list)
    """Called names, dotted as written with aliases resolved (``xarray.combine_by_coords``)."""
    attributes: list[str] = field(default_factory=list)
    """Attribute and method names used (``fromstring``, ``weighted``)."""
    names: list[str] = field(default_factory=list)
    """Other identifiers read (classes and functions used without a call, keywords)."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Names the snippet's imports bind, to what they stand for (``xr`` -> ``xarray``)."""


def code_names(source: str) -> CodeNames:
    """The names ``source`` uses; an empty result when nothing in it parses."""
    source = source[:_MAX_CHARS]
    result = CodeNames(source=source)
    trees = _parse(source)
    if not trees:
        return result
    result.parsed = True
    aliases: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    aliases[alias.asname or alias.name.partition(".")[0]] = (
                        alias.name if alias.asname else alias.name.partition(".")[0]
                    )
                    result.imports.append((alias.name, ""))
                    result.modules.append(alias.name)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                result.modules.append(node.module)
                for alias in node.names:
                    if alias.name != "*":
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                        result.imports.append((node.module, alias.name))
    seen: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                dotted = _dotted(node.func, aliases)
                if dotted and dotted.rpartition(".")[2] not in _COMMON:
                    _add(result.calls, dotted, seen)
                for keyword in node.keywords:
                    if keyword.arg:
                        _add(result.names, keyword.arg, seen)
            elif isinstance(node, ast.Attribute):
                if not node.attr.startswith("__") or node.attr.endswith("__"):
                    _add(result.attributes, node.attr, seen)
            elif isinstance(node, ast.Name) and node.id not in _COMMON and node.id not in aliases:
                _add(result.names, node.id, seen)
            elif isinstance(node, ast.Name) and node.id in aliases:
                _add(result.names, aliases[node.id], seen)
    for dotted in result.calls:
        head = dotted.rpartition(".")[0]
        if head and head.islower():
            result.modules.append(head)
    result.modules = list(dict.fromkeys(result.modules))
    result.aliases = aliases
    return result


def _add(target: list[str], value: str, seen: set[str]) -> None:
    if value and value not in seen and len(value.rpartition(".")[2]) >= 2:
        seen.add(value)
        target.append(value)


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str:
    """``a.b.c`` for an attribute chain on a name (alias-resolved); the last attribute of a
    chain on anything else (``f().mean`` gives ``mean``)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
        return ".".join(reversed(parts))
    return parts[0] if parts else ""


def _parse(source: str) -> list[ast.Module]:
    """The whole snippet, else each statement that parses on its own (continuation lines
    of a statement are joined while brackets stay open)."""
    try:
        return [ast.parse(source)]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    trees: list[ast.Module] = []
    pending: list[str] = []
    for line in source.split("\n"):
        pending.append(line)
        chunk = "\n".join(pending)
        tree = _try(chunk)
        if tree is not None:
            trees.append(tree)
            pending = []
        elif len(pending) > 30 or not _open_brackets(chunk):
            pending = []
    return [t for t in trees if t.body]


def _try(chunk: str) -> ast.Module | None:
    import textwrap

    try:
        return ast.parse(textwrap.dedent(chunk))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _open_brackets(text: str) -> bool:
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
    return depth > 0 or text.rstrip().endswith((":", "\\", ","))
