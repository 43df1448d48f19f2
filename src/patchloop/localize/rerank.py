"""Model reranking of the issue ranking's best files, under a grammar of their paths only.

The model reads the issue and a skeleton of each candidate file (its definitions' first lines
and docstrings, not whole files) and answers with up to :data:`PICKS` candidate paths, best
first, one per line. The output contract admits nothing else, and the reply is parsed and
checked against the candidates all the same (a server may ignore the grammar): the files it
names move to the front in its order; the others keep theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from patchloop.domain import CompletionRequest, Message, OutputContract, Sampling
from patchloop.errors import BadOutput
from patchloop.localize.codeview import CodeView
from patchloop.localize.issue import FileScore, IssueRanking
from patchloop.protocols import Model

__all__ = ["PICKS", "ModelReranker", "parse_picks", "rerank_contract", "skeleton"]

#: Paths the model may name.
PICKS = 3
#: Characters of the issue text shown to the model.
MAX_ISSUE_CHARS = 4000
#: Skeleton lines per candidate file.
MAX_SKELETON_LINES = 40

_SYSTEM = (
    "You locate the code an issue is about. You are given an issue and candidate files of a "
    "repository, each as a list of its definitions. Answer with the paths of the files that "
    f"must change to resolve the issue, most likely first, one per line, at most {PICKS}, "
    "copied exactly from the candidates. Write nothing else."
)


def rerank_contract(paths: Sequence[str]) -> OutputContract:
    """A grammar admitting one to :data:`PICKS` distinct-looking lines, each a candidate path."""
    from patchloop.edits.contracts import gbnf_literal

    alternatives = " | ".join(gbnf_literal(p) for p in paths)
    more = ' ("\\n" path)?' * (min(PICKS, len(paths)) - 1)
    grammar = f'root ::= path{more} "\\n"?\npath ::= {alternatives}\n'
    return OutputContract(name="paths", grammar=grammar)


def parse_picks(text: str, paths: Sequence[str]) -> list[str]:
    """The candidate paths ``text`` names, in order, without repeats; ``BadOutput`` when it
    names none."""
    known = set(paths)
    picks: list[str] = []
    for line in text.splitlines():
        path = line.strip().strip("`").strip()
        if path in known and path not in picks:
            picks.append(path)
    if not picks:
        raise BadOutput(f"the reply names no candidate file: {text[:200]!r}")
    return picks[:PICKS]


def skeleton(view: CodeView, path: str) -> str:
    """The first line of each definition of ``path`` (and of its docstring), with line numbers."""
    spans = [s for s in view.spans_of(path) if s.kind not in ("module", "window")]
    texts = view.texts([s.row for s in spans])
    lines: list[str] = []
    seen: set[str] = set()
    for span in spans:
        if span.symbol in seen:
            continue
        seen.add(span.symbol)
        head = [line for line in texts.get(span.row, "").split("\n") if line.strip()][:3]
        signature = next((h for h in head if not h.lstrip().startswith("@")), "")
        doc = next((h.strip() for h in head if h.strip().startswith(('"""', "'''"))), "")
        if signature:
            lines.append(
                f"{span.start:>5}: {signature.rstrip()}" + (f"  {doc[:80]}" if doc else "")
            )
        if len(lines) >= MAX_SKELETON_LINES:
            lines.append("  ...")
            break
    return "\n".join(lines)


class ModelReranker:
    """Reranks the first ``depth`` files of an issue ranking with ``model``."""

    def __init__(self, model: Model, *, depth: int = 5, max_tokens: int = 64) -> None:
        self.model = model
        self.depth = depth
        self.max_tokens = max_tokens

    def request(
        self, text: str, files: Sequence[FileScore], view: CodeView, prefix: str = ""
    ) -> CompletionRequest:
        """The request: the issue, then each candidate's skeleton, under the paths grammar
        (``prefix``: the project's directory in the view, for a project inside a repository)."""
        blocks = [f"### {f.path}\n{skeleton(view, prefix + f.path)}" for f in files]
        user = (
            f"Issue:\n{text[:MAX_ISSUE_CHARS]}\n\nCandidate files:\n\n"
            + "\n\n".join(blocks)
            + "\n\nFiles to change, most likely first:"
        )
        return CompletionRequest(
            messages=(Message(role="system", content=_SYSTEM), Message(role="user", content=user)),
            contract=rerank_contract([f.path for f in files]),
            sampling=Sampling(temperature=0.0, max_tokens=self.max_tokens),
        )

    def rerank(
        self, ranking: IssueRanking, text: str, view: CodeView, prefix: str = ""
    ) -> IssueRanking:
        """``ranking`` with the model's picks first (the rest in their order)."""
        head = ranking.files[: self.depth]
        if len(head) < 2:
            return ranking
        reply = self.model.complete(self.request(text, head, view, prefix))
        picks = parse_picks(reply.text, [f.path for f in head])
        by_path = {f.path: f for f in ranking.files}
        chosen = [
            replace(by_path[p], reasons=(f"model pick #{n}", *by_path[p].reasons))
            for n, p in enumerate(picks, start=1)
        ]
        rest = [f for f in ranking.files if f.path not in picks]
        return replace(ranking, files=(*chosen, *rest))
