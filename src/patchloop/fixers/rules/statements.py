"""Excess or missing statements: delete one, swap two, or add a missing state update."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Delete, Insert, Mutation, Replace
from patchloop.fixers.rules._util import functions_at, walk

NAME = "statements"
PRIOR = 0.45

MAX_RECEIVERS = 3
MAX_ELEMENTS = 3
MAX_POSITIONS = 6
_EXITS = (cst.Return, cst.Continue, cst.Break)
_ADDERS = {"add": "add", "append": "append", "appendleft": "append"}
_KIND_ADDER = {"set": "add", "list": "append"}


def _small(stmt: cst.CSTNode) -> cst.BaseSmallStatement | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def _deletions(src: SourceFile) -> Iterator[Mutation]:
    for stmt in src.sites_of((cst.SimpleStatementLine, cst.If, cst.For, cst.While)):
        parent = src.parent(stmt)
        if not isinstance(parent, cst.IndentedBlock) or stmt in src.scan.docstrings:
            continue
        if src.function_of(stmt) is None:
            continue
        small = _small(stmt)
        if isinstance(stmt, cst.SimpleStatementLine):
            if small is None or isinstance(small, cst.Pass) or _only_binding(src, small):
                continue
            weight = 0.3 if isinstance(small, (*_EXITS, cst.Raise)) else 0.5
            if isinstance(small, cst.Return) and parent.body[-1] is stmt:
                weight = 0.15  # a function that falls off its end returns None
        else:
            weight = 0.3 if isinstance(stmt, cst.If) else 0.15
        if len(parent.body) == 1 and isinstance(src.parent(parent), cst.FunctionDef):
            continue  # emptying a whole function is no repair
        yield Mutation(
            edits=(Delete(stmt),), description=f"delete '{_head(src, stmt)}'", weight=weight
        )


def _only_binding(src: SourceFile, small: cst.BaseSmallStatement) -> bool:
    """Whether ``small`` assigns a name that nothing else in its function binds."""
    if not isinstance(small, cst.Assign):
        return False
    fn = src.function_of(small)
    if fn is None:
        return False
    key = ("store_counts", fn)
    counts = src.cache.get(key)
    if not isinstance(counts, Counter):
        counts = _Names(src, fn).store_counts
        src.cache[key] = counts
    targets = [t.target for t in small.targets if isinstance(t.target, cst.Name)]
    return bool(targets) and all(counts[t.value] <= 1 for t in targets)


def _head(src: SourceFile, stmt: cst.CSTNode) -> str:
    text = src.code(stmt).split("\n", 1)[0].strip()
    return text if len(text) <= 40 else text[:37] + "..."


def _swaps(src: SourceFile) -> Iterator[Mutation]:
    for stmt in src.sites_of(cst.SimpleStatementLine):
        parent = src.parent(stmt)
        if not isinstance(parent, cst.IndentedBlock) or stmt in src.scan.docstrings:
            continue
        body = list(parent.body)
        i = body.index(stmt)
        if i + 1 >= len(body) or not isinstance(body[i + 1], cst.SimpleStatementLine):
            continue
        nxt = body[i + 1]
        if _small(stmt) is None or _small(nxt) is None or isinstance(_small(nxt), _EXITS):
            continue
        a, b = src.code(stmt), src.code(nxt)
        if a == b:
            continue
        yield Mutation(
            edits=(Replace(stmt, b), Replace(nxt, a)),
            description=f"swap '{_head(src, stmt)}' with the next statement",
            weight=0.3,
        )


class _Names:
    """Loads, stores, membership tests and adder calls in a subtree (not in inner functions)."""

    def __init__(self, src: SourceFile, root: cst.CSTNode) -> None:
        self.loads: dict[str, None] = {}
        self.stores: set[str] = set()
        self.members: dict[str, list[str]] = {}
        self.adders: dict[str, str] = {}
        self.added: dict[str, set[str]] = {}
        """Receiver -> names already added to it."""
        self.receivers: set[str] = set()
        """Names changed in place: a method called on them, an item or attribute assigned."""
        self.store_counts: Counter[str] = Counter()
        kinds = (cst.Name, cst.Comparison, cst.Call, cst.AssignTarget)
        for node in walk(root, kinds, stop=(cst.FunctionDef,), src=src):
            if isinstance(node, cst.Name):
                if node in src.scan.stores:
                    self.stores.add(node.value)
                    self.store_counts[node.value] += 1
                elif node not in src.scan.labels:
                    self.loads.setdefault(node.value)
            elif isinstance(node, cst.Comparison):
                self._membership(node)
            elif isinstance(node, cst.AssignTarget):
                target = node.target
                if isinstance(target, cst.Subscript | cst.Attribute) and isinstance(
                    target.value, cst.Name
                ):
                    self.receivers.add(target.value.value)
            else:
                self._adder(node)

    def _membership(self, node: cst.Comparison) -> None:
        for target in node.comparisons:
            if (
                isinstance(target.operator, cst.In | cst.NotIn)
                and isinstance(target.comparator, cst.Name)
                and isinstance(node.left, cst.Name)
            ):
                self.members.setdefault(target.comparator.value, []).append(node.left.value)

    def _adder(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            receiver = func.value.value
            self.receivers.add(receiver)
            adder = _ADDERS.get(func.attr.value)
            if adder:
                self.adders.setdefault(receiver, adder)
                added = self.added.setdefault(receiver, set())
                added.update(a.value.value for a in node.args if isinstance(a.value, cst.Name))


def _positions(src: SourceFile, fn: cst.FunctionDef) -> list[tuple[cst.CSTNode, bool]]:
    """Where a missing statement may go: before exits, after a block's last statement or a loop."""
    out: list[tuple[cst.CSTNode, bool]] = []
    for stmt in src.sites_of((cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        block = src.parent(stmt)
        if not isinstance(block, cst.IndentedBlock) or src.function_of(stmt) is not fn:
            continue
        small = _small(stmt)
        if isinstance(small, _EXITS):
            out.append((stmt, False))
        elif isinstance(stmt, cst.For | cst.While) or (
            block.body[-1] is stmt and not isinstance(small, cst.Raise)
        ):
            out.append((stmt, True))
    return out[:MAX_POSITIONS]


def _collection_updates(src: SourceFile, fn: cst.FunctionDef) -> Iterator[Mutation]:
    """A collection that is tested or consumed but never filled: ``seen.add(x)``."""
    names = _Names(src, fn.body)
    scope = src.scan.scopes[fn]
    receivers: dict[str, str] = {}
    enclosing = [fn, *(a for a in src.ancestors(fn) if isinstance(a, cst.FunctionDef))]
    for owner in enclosing:  # closures fill collections of the enclosing function too
        for name, kind in src.scan.scopes[owner].collections.items():
            if kind in _KIND_ADDER and name not in receivers:
                receivers[name] = names.adders.get(name, _KIND_ADDER[kind])
    for name, adder in names.adders.items():
        receivers.setdefault(name, adder)
    params = [p for p in scope.params if p not in ("self", "cls")]
    positions = _positions(src, fn)
    loops: dict[cst.CSTNode, _Names] = {
        a: _Names(src, a.body) for a, _ in positions if isinstance(a, cst.For | cst.While)
    }
    for r_rank, (receiver, adder) in enumerate(list(receivers.items())[:MAX_RECEIVERS]):
        tested = names.members.get(receiver, [])
        added = names.added.get(receiver, set())
        local = [n for n in names.loads if n in scope.bindings and n not in params]
        pool = [*tested, *local, *(n for n in names.loads if n in params)]
        elements = [e for e in dict.fromkeys(pool) if e != receiver and e not in scope.callables]
        for e_rank, element in enumerate(elements[:MAX_ELEMENTS]):
            base = 0.5 if element in tested else 0.3 if element not in params else 0.25
            if element in added:
                base *= 0.5  # adding what is already added is rarely what is missing
            code = f"{receiver}.{adder}({element})"
            for anchor, after in positions:
                weight = base * 0.9 ** (r_rank + e_rank)
                if after and _flushes(loops.get(anchor), receiver, element):
                    weight *= 1.6  # the loop's last value is never flushed
                where = "after" if after else "before"
                yield Mutation(
                    edits=(Insert(anchor, code, after=after),),
                    description=f"insert '{code}' {where} '{_head(src, anchor)}'",
                    weight=weight,
                    line=src.line(anchor),
                )


def _flushes(loop: _Names | None, receiver: str, element: str) -> bool:
    """Whether a loop fills ``receiver`` and rebinds ``element`` without adding it."""
    return (
        loop is not None
        and receiver in loop.adders
        and element in loop.stores
        and element not in loop.added.get(receiver, ())
    )


def _loop_updates(src: SourceFile) -> Iterator[Mutation]:
    """A variable read in a loop but never updated in it: ``prev = node`` is missing."""
    for loop in src.sites_of((cst.For, cst.While)):
        fn = src.function_of(loop)
        if fn is None or not isinstance(loop.body, cst.IndentedBlock):
            continue
        names = _Names(src, loop.body)
        targets = _Names(src, loop.target) if isinstance(loop, cst.For) else None
        scope = src.scan.scopes[fn]
        start = src.line(loop)
        stale = [
            n
            for n in names.loads
            if n not in names.stores
            and (targets is None or n not in targets.stores)
            and scope.bindings.get(n, start) < start
            and n not in scope.params
            and n not in scope.callables
            and n not in names.receivers
        ]
        loop_targets = sorted(targets.stores) if targets is not None else []
        fresh = [n for n in dict.fromkeys([*loop_targets, *names.stores]) if n not in stale]
        body = list(loop.body.body)
        slots = [(s, False) for s in body[1:]] + [(body[-1], True)]
        for x in stale[:2]:
            for v_rank, value in enumerate(fresh[:MAX_ELEMENTS]):
                code = f"{x} = {value}"
                for anchor, after in slots[:MAX_POSITIONS]:
                    yield Mutation(
                        edits=(Insert(anchor, code, after=after),),
                        description=f"insert '{code}' in the loop at line {src.line(anchor)}",
                        weight=0.35 * 0.9**v_rank,
                        line=src.line(anchor),
                    )


def _loop_progress(src: SourceFile) -> Iterator[Mutation]:
    """``while i < n:`` whose body never changes ``i``: the loop needs a step."""
    for loop in src.sites_of(cst.While):
        if not isinstance(loop.body, cst.IndentedBlock) or not loop.body.body:
            continue
        body = _Names(src, loop.body)
        test = _Names(src, loop.test)
        scope = src.scope_of(loop)
        stuck = [n for n in test.loads if n not in body.stores and n in scope.bindings]
        last = loop.body.body[-1]
        for name in stuck[:2]:
            for op in ("-=", "+="):
                code = f"{name} {op} 1"
                yield Mutation(
                    edits=(Insert(last, code, after=True),),
                    description=f"insert '{code}' at the end of the loop",
                    weight=0.4,
                    line=src.line(loop),
                )


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Delete one statement (excess logic), swap two adjacent statements, or insert a missing
    state update: an element added to a collection that is tested or consumed
    (``seen.add(node)``, ``stack.append(x)``), or a loop variable that is read but never updated
    in the loop (``prev = node``).

    Repairs HumanEvalFix *excess logic* and *missing logic* and QuixBugs "missing line".
    """
    yield from _deletions(src)
    yield from _swaps(src)
    for fn in functions_at(src):
        yield from _collection_updates(src, fn)
    yield from _loop_updates(src)
    yield from _loop_progress(src)
