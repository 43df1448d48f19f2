from pathlib import Path

from patchloop.domain import Frame, Hit, Location, Outcome, Task, TestOutcome, TestReport
from patchloop.localize import FusedLocalizer, fuse, fuse_files, promote, relocalize
from patchloop.localize.fusion import hits_to_rankings

from .conftest import FunctionBM25

INVOICE = """
def discount_label(discount):
    # Shows the discount on the invoice: "100% discount", "tax included".
    return f"{discount}% discount, tax shown below"


def invoice_total(net, discount):
    taxable = net * (1 - discount / 100)
    return taxable + compute_tax(taxable)


def compute_tax(amount):
    rate = 0.2
    return round(amount * rate / (amount - amount), 2)
"""


def _loc(path: str, symbol: str, start: int = 1) -> Location:
    return Location(path=path, start_line=start, end_line=start + 2, symbol=symbol)


def _names(locs):
    return [loc.symbol for loc in locs]


def test_fusion_prefers_the_traceback_frame_when_lexical_signals_disagree():
    a, b, c, x = (_loc("m.py", s) for s in ("a", "b", "c", "x"))
    fused = fuse({"traceback": [c], "bm25": [a, b, x, c], "dense": [b, a, c]})
    assert _names(fused)[0] == "c"
    top = fused[0]
    assert top.signals["traceback_rank"] == 1.0
    assert top.signals["bm25_rank"] == 4.0
    assert top.signals["dense_rank"] == 3.0
    assert top.score > fused[1].score


def test_fusion_prefers_the_traceback_frame_over_a_lexical_match_on_a_real_repo(make_repo):
    root = make_repo({"billing/invoice.py": INVOICE})
    task = Task(repo=root, description="invoices with a 100% discount show negative tax")
    baseline = TestReport(
        outcomes=(
            TestOutcome(
                nodeid="tests/test_invoice.py::test_full_discount",
                outcome=Outcome.FAILED,
                message="ZeroDivisionError: float division by zero",
                frames=(
                    Frame(path="tests/test_invoice.py", line=5, in_repo=True),
                    Frame(
                        path="billing/invoice.py", line=8, function="invoice_total", in_repo=True
                    ),
                    Frame(path="billing/invoice.py", line=13, function="compute_tax", in_repo=True),
                ),
            ),
        )
    )
    retriever = FunctionBM25(root)
    lexical = retriever.search("invoices with a 100% discount show negative tax")
    assert lexical[0].symbol == "discount_label"  # the words point elsewhere
    localizer = FusedLocalizer(retriever=retriever)
    ranked = localizer.localize(task, baseline, root, k=3)
    assert _names(ranked) == ["compute_tax", "invoice_total", "discount_label"]
    assert ranked[0].signals["traceback"] == 1.0
    assert "bm25_rank" in ranked[0].signals


def test_without_a_traceback_agreeing_lexical_signals_decide():
    a, b = _loc("m.py", "a"), _loc("m.py", "b")
    fused = fuse({"bm25": [a, b], "dense": [a, b], "traceback": []})
    assert _names(fused) == ["a", "b"]


def test_weights_are_configurable():
    a, c = _loc("m.py", "a"), _loc("m.py", "c")
    rankings = {"traceback": [c], "bm25": [a], "dense": [a]}
    assert _names(fuse(rankings))[0] == "c"
    assert _names(fuse(rankings, weights={"traceback": 0.5}))[0] == "a"


def test_module_level_locations_are_units_of_their_own_line():
    mod1 = Location(path="m.py", start_line=3, end_line=3)
    mod2 = Location(path="m.py", start_line=9, end_line=9)
    fused = fuse({"sbfl": [mod1, mod2, mod1]})
    assert [loc.start_line for loc in fused] == [3, 9]


def test_files_fuse_by_their_best_location():
    rankings = {
        "traceback": [_loc("b.py", "f"), _loc("a.py", "g")],
        "bm25": [_loc("a.py", "h"), _loc("a.py", "g"), _loc("c.py", "k")],
    }
    files = fuse_files(rankings)
    assert [f.path for f in files] == ["a.py", "b.py", "c.py"]
    assert files[0].symbol == ""
    assert files[0].signals["traceback_rank"] == 2.0
    assert files[0].signals["bm25_rank"] == 1.0


def test_hits_split_into_one_ranking_per_signal():
    h1 = Hit(path="a.py", start_line=1, end_line=5, symbol="f", ranks={"bm25": 2, "dense": 1})
    h2 = Hit(path="b.py", start_line=1, end_line=5, symbol="g", ranks={"bm25": 1})
    h3 = Hit(path="c.py", start_line=1, end_line=5, symbol="k")
    rankings = hits_to_rankings([h1, h2, h3])
    assert [loc.symbol for loc in rankings["bm25"]] == ["g", "f"]
    assert [loc.symbol for loc in rankings["dense"]] == ["f"]
    assert [loc.symbol for loc in rankings["retrieval"]] == ["k"]


def test_promote_moves_new_units_to_the_front_and_keeps_the_rest_in_order():
    a, b, c, d = (_loc("m.py", s) for s in "abcd")
    previous = fuse({"bm25": [a, b, c, d]})
    promoted = promote(previous, [d.model_copy(update={"signals": {"traceback": 1.0}})])
    assert _names(promoted) == ["d", "a", "b", "c"]
    assert promoted[0].score > promoted[1].score
    assert promoted[0].signals["retrace"] == 1.0
    assert promote(previous, [a]) == previous
    assert promote(previous, []) == previous


def test_relocalization_promotes_the_new_failure_frame(make_repo):
    root = make_repo({"billing/invoice.py": INVOICE})
    task = Task(repo=root, description="discount label is wrong")
    localizer = FusedLocalizer(retriever=FunctionBM25(root))
    previous = localizer.localize(task, TestReport(), root)
    assert _names(previous)[0] == "discount_label"
    failure = TestReport(
        outcomes=(
            TestOutcome(
                nodeid="tests/test_invoice.py::test_label",
                outcome=Outcome.FAILED,
                frames=(
                    Frame(path="billing/invoice.py", line=13, function="compute_tax", in_repo=True),
                ),
            ),
        )
    )
    updated = localizer.relocalize(previous, failure, root)
    assert _names(updated)[0] == "compute_tax"
    rest = [n for n in _names(previous) if n != "compute_tax"]
    assert _names(updated)[1:] == rest
    # The same failure again changes nothing.
    assert relocalize(updated, failure, root) == updated


def test_relocalization_adds_a_frame_no_signal_had_ranked(make_repo):
    root = make_repo({"billing/invoice.py": INVOICE})
    previous = [_loc("billing/invoice.py", "discount_label")]
    failure = TestReport(
        outcomes=(
            TestOutcome(
                nodeid="t.py::t",
                outcome=Outcome.ERROR,
                frames=(Frame(path="billing/invoice.py", line=8, in_repo=True),),
            ),
        )
    )
    updated = relocalize(previous, failure, root)
    assert [(loc.symbol, loc.start_line, loc.end_line) for loc in updated] == [
        ("invoice_total", 6, 8),
        ("discount_label", 1, 3),
    ]


def test_fused_localizer_works_from_traceback_alone(tmp_path: Path):
    assert FusedLocalizer().localize(Task(repo=tmp_path), TestReport(), tmp_path) == []


class _FixedRetriever:
    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def search(self, query: str, k: int = 10, ref: str | None = None) -> list[Hit]:
        return self.hits[:k]


def test_retrieved_chunks_are_put_on_their_functions_and_tests_are_dropped(make_repo):
    root = make_repo({"billing/invoice.py": INVOICE, "tests/test_invoice.py": "def test_x():\n"})
    hits = [
        Hit(path="tests/test_invoice.py", start_line=1, end_line=1, ranks={"bm25": 1}),
        Hit(path="billing/invoice.py", start_line=12, end_line=13, ranks={"bm25": 2}),
        Hit(path="billing/invoice.py", start_line=4, end_line=5, ranks={"repomap": 1}),
    ]
    task = Task(repo=root, description="tax")
    ranked = FusedLocalizer(retriever=_FixedRetriever(hits)).localize(task, TestReport(), root)
    assert [(loc.symbol, loc.start_line, loc.end_line) for loc in ranked] == [
        ("compute_tax", 11, 13),
        ("", 4, 5),
    ]
    assert ranked[0].signals["bm25_rank"] == 1.0
    with_tests = Task(repo=root, description="tax", allow_test_edits=True)
    localizer = FusedLocalizer(retriever=_FixedRetriever(hits))
    assert localizer.localize(with_tests, TestReport(), root)[0].path == "tests/test_invoice.py"


def test_raw_retrieval_scores_ride_along_with_ranks():
    h1 = Hit(path="a.py", start_line=1, end_line=5, symbol="f", ranks={"bm25": 2, "dense": 1})
    h2 = Hit(path="b.py", start_line=1, end_line=5, symbol="g", ranks={"bm25": 1})
    rankings = hits_to_rankings([h1, h2], [{"bm25": 3.5, "dense": 0.71}, {"bm25": 7.25}])
    assert [loc.signals for loc in rankings["bm25"]] == [{"bm25": 7.25}, {"bm25": 3.5}]
    assert rankings["dense"][0].signals == {"dense": 0.71}
    fused = {loc.symbol: loc.signals for loc in fuse(rankings)}
    assert fused["f"] == {"bm25": 3.5, "bm25_rank": 2.0, "dense": 0.71, "dense_rank": 1.0}
    assert fused["g"] == {"bm25": 7.25, "bm25_rank": 1.0}


def test_a_rank_only_signal_reports_no_score():
    hit = Hit(path="a.py", start_line=1, end_line=5, symbol="f", score=0.03, ranks={"bm25": 4})
    rankings = hits_to_rankings([hit])
    assert rankings["bm25"][0].signals == {}
    # not the rank, not the retriever's fused score
    assert fuse(rankings)[0].signals == {"bm25_rank": 1.0}
