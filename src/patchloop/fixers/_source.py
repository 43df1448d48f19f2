"""A parsed Python file as the templates see it: tree, positions, scopes and repair sites."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator, Sequence
from typing import Any, TypeVar, overload

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

from patchloop.fixers._scope import Scan, Scope, scan

__all__ = ["SourceFile", "parse_source"]

N = TypeVar("N", bound=cst.CSTNode)
_NEWLINE = re.compile(r"\r\n|\r|\n")
_BLOCK_STATEMENTS = (cst.SimpleStatementLine, cst.BaseCompoundStatement)


class SourceFile:
    """One file: its text, libcst tree, node positions and the sites inside given line spans.

    ``weights`` maps a 1-based line to how suspicious it is (0 for lines outside every span);
    templates only look at :attr:`sites`, nodes that start on a suspicious line.
    """

    def __init__(
        self,
        path: str,
        text: str,
        module: cst.Module,
        positions: dict[cst.CSTNode, CodeRange],
        selected: Collection[cst.CSTNode] | None = None,
    ) -> None:
        self.path = path
        self.text = text
        self.module = module
        self.positions = positions
        self.indent_unit = module.default_indent
        self.newline = module.default_newline
        self.line_starts = [0, 0]
        for match in _NEWLINE.finditer(text):
            self.line_starts.append(match.end())
        if self.line_starts[-1] != len(text):
            self.line_starts.append(len(text))
        self.line_count = len(self.line_starts) - 2
        firsts = {node: rng.start.line for node, rng in positions.items()}
        self.scan: Scan = scan(module, firsts, selected)
        self.weights: dict[int, float] = {}
        self.ranks: dict[int, int] = {}
        self.sites: list[cst.CSTNode] = []
        self.cache: dict[object, object] = {}
        self._functions: dict[cst.CSTNode, cst.FunctionDef | None] = {}
        self._values: dict[cst.FunctionDef | None, list[str]] = {}
        """Per-file memo for templates (keyed by a tuple naming the template and the node)."""

    # -- sites -----------------------------------------------------------------------------
    def select(self, weights: dict[int, float], ranks: dict[int, int] | None = None) -> None:
        """Keep as sites the nodes whose first line has a positive weight.

        ``ranks`` gives, per line, the rank of the location that weighs it (for tie-breaks).
        """
        self.weights = weights
        self.ranks = ranks or {}
        opaque = self.scan.opaque
        positions = self.positions
        sites = [
            node
            for node, rng in positions.items()
            if weights.get(rng.start.line, 0.0) > 0 and node not in opaque
        ]
        sites.sort(key=lambda n: (positions[n].start.line, positions[n].start.column))
        self.sites = sites
        self._by_type: dict[type[cst.CSTNode], list[int]] = {}
        for index, node in enumerate(sites):
            self._by_type.setdefault(type(node), []).append(index)

    @overload
    def sites_of(self, kind: type[N]) -> Iterator[N]: ...

    @overload
    def sites_of(self, kind: tuple[type[cst.CSTNode], ...]) -> Iterator[Any]: ...

    def sites_of(self, kind: type[N] | tuple[type[cst.CSTNode], ...]) -> Iterator[Any]:
        """Sites of the given node type(s) (abstract bases included), in source order."""
        kinds = kind if isinstance(kind, tuple) else (kind,)
        indices: list[int] = []
        for present, found in self._by_type.items():
            if issubclass(present, kinds):
                indices.extend(found)
        indices.sort()
        sites = self.sites
        for index in indices:
            yield sites[index]

    def walk(
        self,
        root: cst.CSTNode,
        kinds: tuple[type[cst.CSTNode], ...],
        stop: tuple[type[cst.CSTNode], ...] = (),
    ) -> list[cst.CSTNode] | None:
        """Nodes of ``kinds`` under ``root`` in source order, not entering nested ``stop`` nodes;
        ``None`` when ``root`` is not a node of this file (built by a template)."""
        children = self.scan.children
        if root not in self.scan.parents and root is not self.module:
            return None
        # Exact type tests: isinstance against libcst's ABC-based classes is slow.
        wanted = _concrete(kinds)
        stops = _concrete(stop)
        found: list[cst.CSTNode] = []
        stack = [root]
        while stack:
            node = stack.pop()
            kind = type(node)
            if kind in wanted:
                found.append(node)
            if kind in stops and node is not root:
                continue
            stack.extend(reversed(children.get(node, ())))
        return found

    def covered_line(self, node: cst.CSTNode) -> int | None:
        """The most suspicious line inside ``node``'s span, or ``None`` when none is."""
        rng = self.positions[node]
        best: int | None = None
        best_weight = 0.0
        for line in range(rng.start.line, rng.end.line + 1):
            weight = self.weights.get(line, 0.0)
            if weight > best_weight:
                best, best_weight = line, weight
        return best

    # -- tree navigation -------------------------------------------------------------------
    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The parent of ``node`` (``None`` for the module)."""
        return self.scan.parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """Parent, grandparent, ... up to the module."""
        parent = self.scan.parents.get(node)
        while parent is not None:
            yield parent
            parent = self.scan.parents.get(parent)

    def line(self, node: cst.CSTNode) -> int:
        """First line of ``node`` (1-based; 0 for a node outside the positioned statements)."""
        rng = self.positions.get(node)
        return rng.start.line if rng is not None else 0

    def end_line(self, node: cst.CSTNode) -> int:
        """Last line of ``node``."""
        return self.positions[node].end.line

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The smallest statement line or compound statement that contains ``node``."""
        if isinstance(node, _BLOCK_STATEMENTS):
            return node
        for anc in self.ancestors(node):
            if isinstance(anc, _BLOCK_STATEMENTS):
                return anc
        return None

    def function_of(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        """The innermost function containing ``node``."""
        memo = self._functions
        if node in memo:
            return memo[node]
        parent = self.scan.parents.get(node)
        if parent is None:
            found = None
        elif type(parent) is cst.FunctionDef:
            found = parent
        else:
            found = self.function_of(parent)
        memo[node] = found
        return found

    def scope_of(self, node: cst.CSTNode) -> Scope:
        """Names of the innermost function around ``node`` (the module's outside functions)."""
        return self.scan.scopes[self.function_of(node)]

    def visible_values(self, node: cst.CSTNode) -> list[str]:
        """Value names readable at ``node``: its function's, then the module's; nearest first.

        A local counts only when it is bound before the statement holding ``node`` (or inside a
        loop around it): reading a variable before its assignment is no repair.
        """
        scope = self.scope_of(node)
        line = self.line(node)
        stmt = self.statement_of(node)
        first = self.line(stmt) if stmt is not None else line
        ancestors = list(self.ancestors(node))
        loops = [
            (self.line(a), self.end_line(a))
            for a in ancestors
            if isinstance(a, cst.For | cst.While)
        ]

        def readable(name: str) -> bool:
            bound = scope.bindings[name]
            return bound < first or any(s <= bound <= e for s, e in loops)

        if scope.node not in self._values:
            self._values[scope.node] = scope.values()
        names = [n for n in self._values[scope.node] if readable(n)]
        names.sort(key=lambda n: abs(scope.bindings[n] - line))
        owners = set(ancestors)
        inner = [n for n, nodes in scope.inner.items() if any(o in owners for o in nodes)]
        seen = set(names) | set(inner)
        if None not in self._values:
            self._values[None] = self.scan.scopes[None].values()
        module_values = self._values[None] if scope.node is not None else []
        globals_ = [n for n in module_values if n not in seen]
        return inner + names + globals_

    def is_load(self, name: cst.Name) -> bool:
        """Whether ``name`` reads a variable (not a target, attribute name or keyword)."""
        return name not in self.scan.stores and name not in self.scan.labels

    # -- text ------------------------------------------------------------------------------
    def span(self, node: cst.CSTNode) -> tuple[int, int]:
        """Character offsets of ``node`` in :attr:`text`, its own parentheses included."""
        rng = self.positions[node]
        start, end = rng.start, rng.end
        lpar = getattr(node, "lpar", ())
        rpar = getattr(node, "rpar", ())
        if isinstance(lpar, Sequence) and lpar:
            start = self.positions[lpar[0]].start
        if isinstance(rpar, Sequence) and rpar:
            end = self.positions[rpar[-1]].end
        return (
            self.line_starts[start.line] + start.column,
            self.line_starts[end.line] + end.column,
        )

    def line_indent(self, line: int) -> str:
        """Leading whitespace of ``line``."""
        start = self.line_starts[line]
        end = self.line_starts[line + 1] if line + 1 < len(self.line_starts) else len(self.text)
        raw = self.text[start:end]
        return raw[: len(raw) - len(raw.lstrip(" \t"))]

    def indent_of(self, node: cst.CSTNode) -> str:
        """Indentation of the statement that holds ``node``."""
        stmt = self.statement_of(node)
        return self.line_indent(self.line(stmt if stmt is not None else node))

    def render(self, node: cst.CSTNode, indent: str) -> str:
        """Source of ``node`` as it would print inside a statement indented by ``indent``."""
        state = CodegenState(
            default_indent=self.module.default_indent,
            default_newline=self.module.default_newline,
            indent_tokens=[indent] if indent else [],
        )
        node._codegen(state)
        return "".join(state.tokens)

    def code(self, node: cst.CSTNode) -> str:
        """The original source of ``node``."""
        start, end = self.span(node)
        return self.text[start:end]

    def region_of(self, nodes: Sequence[cst.CSTNode]) -> cst.CSTNode | None:
        """The smallest statement that contains every node and parses on its own.

        Two mutations inside the same region give the same file exactly when the mutated
        regions compare equal, so regions are what candidates are syntax-checked and
        deduplicated by (cheaper than the whole file). ``None``: no such statement.
        """
        if not nodes:
            return None
        chains = [[n, *self.ancestors(n)] for n in nodes]
        others = [set(c) for c in chains[1:]]
        for node in chains[0]:
            if not isinstance(node, _BLOCK_STATEMENTS):
                continue
            parent = self.parent(node)
            if isinstance(node, cst.If) and isinstance(parent, cst.If) and parent.orelse is node:
                continue  # an ``elif`` does not parse alone
            if all(node in chain for chain in others):
                return node
        return None

    def statement_lines(self, stmt: cst.CSTNode) -> tuple[int, int]:
        """First and last line of ``stmt``, decorators included."""
        first = self.line(stmt)
        for dec in getattr(stmt, "decorators", ()):
            first = min(first, self.line(dec))
        return first, self.end_line(stmt)


@functools.lru_cache(maxsize=256)
def _concrete(kinds: tuple[type[cst.CSTNode], ...]) -> frozenset[type[cst.CSTNode]]:
    """Every concrete libcst node class that is one of ``kinds`` or derives from one."""
    return frozenset(k for k in _NODE_CLASSES if issubclass(k, kinds))


def _node_classes() -> tuple[type[cst.CSTNode], ...]:
    found = []
    for name in dir(cst):
        obj = getattr(cst, name)
        if isinstance(obj, type) and issubclass(obj, cst.CSTNode):
            found.append(obj)
    return tuple(found)


_NODE_CLASSES = _node_classes()


def _positions(
    module: cst.Module, wanted: Collection[int] | None, selected: list[cst.CSTNode]
) -> dict[cst.CSTNode, CodeRange]:
    """Positions of the nodes of the top-level statements that touch a ``wanted`` line.

    libcst's position pass costs ten times a plain print, so statements nobody asked about are
    only printed (to count their lines), not tracked.
    """
    if wanted is None:
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        return dict(wrapper.resolve(PositionProvider))
    provider = PositionProvider()
    provider._computed = {}
    line = 1 + len(module.header)
    for stmt in module.body:
        lines = len(_NEWLINE.findall(module.code_for_node(stmt)))
        if any(line <= w < line + lines for w in wanted):
            selected.append(stmt)
            state = PositionProvidingCodegenState(
                default_indent=module.default_indent,
                default_newline=module.default_newline,
                provider=provider,
                line=line,
            )
            stmt._codegen(state)
        line += lines
    return {node: rng for node, rng in provider._computed.items() if isinstance(rng, CodeRange)}


def parse_source(path: str, text: str, wanted: Collection[int] | None = None) -> SourceFile | None:
    """Parse ``text``; ``None`` when libcst cannot parse it.

    With ``wanted`` lines, only the top-level statements touching them get positions (and can
    hold sites).
    """
    selected: list[cst.CSTNode] = []
    try:
        module = cst.parse_module(text)
        positions = _positions(module, wanted, selected)
    except (cst.ParserSyntaxError, RecursionError, ValueError, IndexError):
        return None
    return SourceFile(path, text, module, positions, None if wanted is None else selected)
