"""Fixtures of the localization tests: small repositories on disk and a real sandbox."""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from patchloop.domain import Hit
from patchloop.index import HybridRetriever, lexical_retriever
from patchloop.localize.symbols import SymbolIndex
from patchloop.protocols import Sandbox

PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\n"


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (path -> dedented text) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def shapes_retriever(tmp_path: Path) -> Iterator[HybridRetriever]:
    """The lexical index of the small ``shapes`` package of ``test_issue.py``."""
    from tests.conftest import make_repo
    from tests.localize.test_issue import FILES

    found = lexical_retriever(make_repo(tmp_path / "shapes", FILES), store_dir=tmp_path / "index")
    yield found
    found.close()


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[Mapping[str, str]], Path]:
    def make(files: Mapping[str, str]) -> Path:
        root = tmp_path / "repo"
        return write_tree(root, {"pytest.ini": PYTEST_INI, **files})

    return make


@pytest.fixture
def sandbox() -> Sandbox:
    from patchloop.sandbox.local import LocalSandbox

    return LocalSandbox()


def _tokens(text: str) -> list[str]:
    words = re.findall(r"[A-Za-z]+", text)
    out = []
    for word in words:
        out += [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", word)]
    return out


class FunctionBM25:
    """A small BM25 retriever over the functions of a repository (a stand-in ``Retriever``)."""

    def __init__(self, root: Path) -> None:
        index = SymbolIndex(root)
        self.docs: list[tuple[Hit, list[str]]] = []
        for path in sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")):
            module = index.get(path)
            if module is None:
                continue
            lines = (root / path).read_text(encoding="utf-8").splitlines()
            for scope in module.scopes:
                if scope.kind != "function":
                    continue
                text = "\n".join(lines[scope.start - 1 : scope.end])
                hit = Hit(
                    path=path,
                    start_line=scope.start,
                    end_line=scope.end,
                    symbol=scope.qualname,
                    text=text,
                )
                self.docs.append((hit, _tokens(text)))

    def search(self, query: str, k: int = 10, ref: str | None = None) -> list[Hit]:
        terms = set(_tokens(query))
        n = len(self.docs)
        avg = sum(len(t) for _, t in self.docs) / max(n, 1)
        df = {term: sum(1 for _, t in self.docs if term in t) for term in terms}
        scored = []
        for hit, toks in self.docs:
            score = 0.0
            for term in terms:
                tf = toks.count(term)
                if tf:
                    idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                    score += idf * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * len(toks) / avg))
            if score > 0:
                scored.append((score, hit))
        scored.sort(key=lambda item: -item[0])
        return [
            hit.model_copy(update={"score": score, "ranks": {"bm25": i + 1}})
            for i, (score, hit) in enumerate(scored[:k])
        ]
