"""Function misuse: the wrong builtin or method, a call too many, or a missing wrapper call."""

from __future__ import annotations

import builtins
from collections.abc import Iterator

import libcst as cst

from patchloop.fixers._source import SourceFile
from patchloop.fixers._types import Mutation
from patchloop.fixers.rules._util import code_of, make_call, mentioned_names, replace, unparen

NAME = "calls"
PRIOR = 0.7

# Builtins that are confused with each other (same arguments, related meaning).
_BUILTINS: dict[str, tuple[str, ...]] = {
    "min": ("max",),
    "max": ("min",),
    "any": ("all",),
    "all": ("any",),
    "sorted": ("reversed", "list"),
    "reversed": ("sorted",),
    "int": ("float", "round"),
    "float": ("int",),
    "round": ("int",),
    "list": ("set", "sorted", "tuple"),
    "set": ("list", "sorted"),
    "tuple": ("list",),
    "sum": ("len", "max"),
    "len": ("sum",),
    "str": ("repr",),
    "repr": ("str",),
    "ord": ("chr",),
    "chr": ("ord",),
    "filter": ("map",),
    "map": ("filter",),
    "isinstance": ("issubclass",),
    "hasattr": ("getattr",),
    "print": (),
}
# String and container methods of the same shape that are confused with each other.
_METHODS: dict[str, tuple[str, ...]] = {
    "strip": ("lstrip", "rstrip"),
    "lstrip": ("strip", "rstrip"),
    "rstrip": ("strip", "lstrip"),
    "lower": ("upper", "swapcase", "casefold"),
    "upper": ("lower", "swapcase"),
    "swapcase": ("lower", "upper"),
    "casefold": ("lower",),
    "title": ("capitalize",),
    "capitalize": ("title",),
    "startswith": ("endswith",),
    "endswith": ("startswith",),
    "find": ("rfind", "index"),
    "rfind": ("find", "rindex"),
    "index": ("rindex", "find"),
    "rindex": ("index", "rfind"),
    "split": ("rsplit", "splitlines"),
    "rsplit": ("split",),
    "partition": ("rpartition",),
    "rpartition": ("partition",),
    "ljust": ("rjust", "center"),
    "rjust": ("ljust", "center"),
    "isupper": ("islower",),
    "islower": ("isupper",),
    "isdigit": ("isalpha", "isnumeric", "isalnum"),
    "isalpha": ("isdigit", "isalnum"),
    "isalnum": ("isalpha", "isdigit"),
    "isnumeric": ("isdigit",),
    "append": ("extend", "add"),
    "extend": ("append", "update"),
    "add": ("update", "append"),
    "update": ("add", "extend"),
    "appendleft": ("append",),
    "pop": ("popleft",),
    "popleft": ("pop",),
    "remove": ("discard", "pop"),
    "discard": ("remove",),
    "keys": ("values", "items"),
    "values": ("keys", "items"),
    "items": ("keys", "values"),
    "sort": ("reverse",),
    "reverse": ("sort",),
    "get": ("pop", "setdefault"),
    "setdefault": ("get",),
    "count": ("index",),
    "floor": ("ceil", "trunc"),
    "ceil": ("floor",),
    "trunc": ("floor", "ceil"),
}
MAX_SIBLINGS = 3
_CONVERSIONS = {"int", "float", "str", "list", "tuple", "set", "sorted", "reversed", "abs", "bool"}
_BUILTIN_NAMES = set(dir(builtins))


_KIND_METHODS = {
    "list": {"append", "extend", "insert", "pop", "remove", "sort", "reverse", "index", "count"},
    "set": {"add", "update", "remove", "discard", "pop"},
    "dict": {"keys", "values", "items", "get", "pop", "setdefault", "update", "popitem"},
}


def _collection_kind(src: SourceFile, node: cst.CSTNode, name: str) -> str | None:
    """``list``/``set``/``dict`` when ``name`` was bound to an empty collection of that kind."""
    for fn in (src.function_of(node), None):
        kind = src.scan.scopes[fn].collections.get(name)
        if kind is not None:
            return kind
    return None


def _shadowed(src: SourceFile, node: cst.CSTNode, name: str) -> bool:
    return name in src.scope_of(node).bindings or name in src.scan.scopes[None].bindings


def _arity(fn: cst.FunctionDef) -> tuple[int, int]:
    """Fewest and most positional arguments ``fn`` accepts (``*args``: many)."""
    params = [*fn.params.posonly_params, *fn.params.params]
    required = sum(1 for p in params if p.default is None)
    most = 1 << 10 if isinstance(fn.params.star_arg, cst.Param) else len(params)
    return required, most


def _module_functions(src: SourceFile) -> dict[str, tuple[int, int]]:
    cached = src.cache.get("module_functions")
    if isinstance(cached, dict):
        return cached
    found = {s.name.value: _arity(s) for s in src.module.body if isinstance(s, cst.FunctionDef)}
    src.cache["module_functions"] = found
    return found


def _sibling_functions(src: SourceFile, node: cst.Call, func: cst.Name) -> Iterator[Mutation]:
    """``f(x)`` -> ``g(x)`` for another function of the module that takes the same arguments."""
    functions = _module_functions(src)
    if func.value not in functions or node.func is not func:
        return
    count = len(node.args)
    caller = src.function_of(node)
    others = [
        name
        for name, (fewest, most) in functions.items()
        if name != func.value
        and fewest <= count <= most
        and not (caller is not None and name == caller.name.value)
    ]
    for rank, other in enumerate(others[:MAX_SIBLINGS]):
        new = node.with_changes(func=func.with_changes(value=other))
        yield replace(node, new, f"call '{other}' instead of '{func.value}'", 0.5 * 0.9**rank)


def _renames(src: SourceFile, node: cst.Call) -> Iterator[Mutation]:
    func = node.func
    if isinstance(func, cst.Name):
        yield from _sibling_functions(src, node, func)
        if func.value not in _BUILTIN_NAMES or _shadowed(src, node, func.value):
            return
        for rank, other in enumerate(_BUILTINS.get(func.value, ())):
            new = node.with_changes(func=func.with_changes(value=other))
            yield replace(node, new, f"'{func.value}' -> '{other}'", 0.9**rank)
    elif isinstance(func, cst.Attribute):
        name = func.attr.value
        alternatives = _METHODS.get(name, ())
        if isinstance(func.value, cst.Name):
            kind = _collection_kind(src, node, func.value.value)
            if kind is not None:
                alternatives = tuple(m for m in alternatives if m in _KIND_METHODS[kind])
        for rank, other in enumerate(alternatives):
            new = node.with_changes(func=func.with_changes(attr=cst.Name(other)))
            yield replace(node, new, f"'.{name}' -> '.{other}'", 0.8 * 0.9**rank)
        if name == "pop" and not node.args:
            new = node.with_changes(args=[cst.Arg(value=cst.Integer("0"))])
            yield replace(node, new, "'.pop()' -> '.pop(0)'", 0.6)
        elif name == "pop" and len(node.args) == 1 and code_of(node.args[0].value) in ("0", "-1"):
            yield replace(node, node.with_changes(args=[]), "'.pop(i)' -> '.pop()'", 0.6)


def _update_to_assign(src: SourceFile, node: cst.Call) -> Iterator[Mutation]:
    """``d[k].update(v)`` as a statement -> ``d[k] = v``: replace instead of merge."""
    func = node.func
    if not (isinstance(func, cst.Attribute) and func.attr.value in ("update", "extend")):
        return
    if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
        return
    expr = src.parent(node)
    if not isinstance(expr, cst.Expr):
        return
    target = src.render(func.value, "")
    value = src.render(node.args[0].value, "")
    yield replace(expr, f"{target} = {value}", f"'.{func.attr.value}(...)' -> assignment", 0.4)


def _chained(src: SourceFile, node: cst.Call) -> Iterator[Mutation]:
    """``s.replace(a, b).replace(c, d)`` -> ``s.replace(a, b)``: one call too many in a chain."""
    func = node.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
        inner = func.value
        new = inner.with_changes(lpar=node.lpar, rpar=node.rpar) if node.lpar else inner
        yield replace(node, new, f"drop the chained '.{func.attr.value}(...)'", 0.4)


def _deduplicated(src: SourceFile, node: cst.Call) -> Iterator[Mutation]:
    """``sorted(xs)`` -> ``sorted(set(xs))``: duplicates that should have been removed."""
    if not (
        isinstance(node.func, cst.Name) and node.func.value in ("sorted", "len", "list", "sum")
    ):
        return
    if not node.args or node.args[0].keyword is not None or node.args[0].star:
        return
    arg = node.args[0]
    if (
        isinstance(arg.value, cst.Call)
        and isinstance(arg.value.func, cst.Name)
        and arg.value.func.value == "set"
    ):
        return
    new_arg = arg.with_changes(value=make_call("set", [unparen(arg.value)]))
    new = node.with_changes(args=[new_arg, *node.args[1:]])
    yield replace(node, new, f"deduplicate the argument of '{node.func.value}()'", 0.3)


def _unwrap(src: SourceFile, node: cst.Call) -> Iterator[Mutation]:
    """``f(x)`` -> ``x``: a conversion or call that should not be there."""
    if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
        return
    name = node.func.value if isinstance(node.func, cst.Name) else None
    if name in ("len", "print"):
        return
    arg = node.args[0].value
    weight = 0.5 if name in _CONVERSIONS else 0.3
    new = unparen(arg).with_changes(lpar=node.lpar, rpar=node.rpar) if node.lpar else arg
    if not isinstance(
        arg, cst.Name | cst.Attribute | cst.Subscript | cst.Call | cst.BinaryOperation
    ):
        return
    if isinstance(arg, cst.BinaryOperation) and not node.lpar:
        parent = src.parent(node)
        if isinstance(
            parent, cst.BinaryOperation | cst.UnaryOperation | cst.Attribute | cst.Subscript
        ):
            return
    yield replace(node, new, f"unwrap '{code_of(node)}'", weight)


def _sort_order(node: cst.Call) -> Iterator[Mutation]:
    if not (isinstance(node.func, cst.Name) and node.func.value == "sorted") and not (
        isinstance(node.func, cst.Attribute) and node.func.attr.value == "sort"
    ):
        return
    if any(a.keyword is not None and a.keyword.value == "reverse" for a in node.args):
        return
    reverse = cst.Arg(
        keyword=cst.Name("reverse"),
        value=cst.Name("True"),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    args = list(node.args)
    if args:
        args[-1] = args[-1].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
    yield replace(node, node.with_changes(args=[*args, reverse]), "add 'reverse=True'", 0.4)


def _wrap_abs(src: SourceFile, node: cst.BinaryOperation) -> Iterator[Mutation]:
    if not isinstance(node.operator, cst.Subtract):
        return
    new = make_call("abs", [unparen(node)])
    yield replace(node, new, f"'{code_of(node)}' -> 'abs(...)'", 0.4)


def _accumulate(src: SourceFile, node: cst.Assign) -> Iterator[Mutation]:
    """``best = x`` -> ``best = max(best, x)``; ``s = s + x`` -> ``s = max(0, s + x)``."""
    if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
        return
    target = node.targets[0].target.value
    value = unparen(node.value)
    if target not in src.scope_of(node).bindings or isinstance(value, cst.Call):
        return
    if target in mentioned_names(node.value, src):
        if isinstance(value, cst.BinaryOperation):
            new = make_call("max", [cst.Integer("0"), value])
            yield replace(node.value, new, f"clamp '{target}' at zero", 0.15)
        return
    for fn in ("max", "min"):
        new = make_call(fn, [cst.Name(target), value])
        yield replace(node.value, new, f"'{target} = ...' -> '{target} = {fn}({target}, ...)'", 0.3)


def generate(src: SourceFile) -> Iterator[Mutation]:
    """Call another builtin or method of the same shape (``min``/``max``, ``any``/``all``,
    ``strip``/``rstrip``, ``find``/``rfind``, ``append``/``extend``, ...), drop a wrapper call
    (``f(x)`` -> ``x``), or add one that is missing (``abs(a - b)``, ``max(best, x)``,
    ``reverse=True``).

    Repairs QuixBugs "incorrect method called"/"missing function call", HumanEvalFix *function
    misuse* and the *wrong function name* and *add function around expression* SStuB patterns.
    """
    for node in src.sites_of((cst.Call, cst.BinaryOperation, cst.Assign)):
        if isinstance(node, cst.Call):
            yield from _renames(src, node)
            yield from _update_to_assign(src, node)
            yield from _chained(src, node)
            yield from _deduplicated(src, node)
            yield from _unwrap(src, node)
            yield from _sort_order(node)
        elif isinstance(node, cst.BinaryOperation):
            yield from _wrap_abs(src, node)
        else:
            yield from _accumulate(src, node)
