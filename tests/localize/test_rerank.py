"""Model reranking: the grammar admits only candidate paths; replies are checked anyway."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from patchloop.errors import BadOutput
from patchloop.index import lexical_retriever
from patchloop.localize.issue import IssueRanker
from patchloop.localize.rerank import ModelReranker, parse_picks, rerank_contract
from patchloop.models import ScriptedModel
from tests.conftest import make_repo
from tests.localize.test_issue import FILES, TRACEBACK_ISSUE


def _alternatives(grammar: str) -> list[str]:
    (line,) = [g for g in grammar.splitlines() if g.startswith("path ::=")]
    return re.findall(r'"((?:[^"\\]|\\.)*)"', line.partition("::=")[2])


def test_the_grammar_admits_exactly_the_candidate_paths():
    paths = ["pkg/a.py", 'odd "name".py', "pkg/b.py"]
    contract = rerank_contract(paths)
    assert contract.grammar is not None
    assert [a.replace('\\"', '"') for a in _alternatives(contract.grammar)] == paths
    root = contract.grammar.splitlines()[0]
    assert root.count("path") == 3  # one pick, up to two more


def test_replies_naming_no_candidate_are_bad_output():
    assert parse_picks("pkg/b.py\npkg/a.py\npkg/b.py\n", ["pkg/a.py", "pkg/b.py"]) == [
        "pkg/b.py",
        "pkg/a.py",
    ]
    with pytest.raises(BadOutput):
        parse_picks("setup.py\n", ["pkg/a.py", "pkg/b.py"])


def test_the_models_picks_move_to_the_front(tmp_path: Path):
    repo = make_repo(tmp_path / "shapes", FILES)
    retriever = lexical_retriever(repo, store_dir=tmp_path / "index")
    try:
        view = retriever.view()
        ranking = IssueRanker(view).rank(TRACEBACK_ISSUE)
        before = [f.path for f in ranking.files]
        pick = before[2]
        model = ScriptedModel([pick + "\n"])
        after = ModelReranker(model).rerank(ranking, TRACEBACK_ISSUE, view)
    finally:
        retriever.close()
    assert [f.path for f in after.files] == [pick] + [p for p in before if p != pick]
    assert after.files[0].reasons[0] == "model pick #1"
    (request,) = model.history
    assert request.contract is not None
    assert set(_alternatives(request.contract.grammar or "")) == set(before[:5])
    candidates = request.messages[-1].content.partition("Candidate files:")[2]
    assert "def _shoelace(points):" in candidates
    assert "twice +=" not in candidates  # skeletons, not whole files
