"""What an issue text carries that points at code: names, paths, messages, frames, code.

An issue is prose around quoted material: fenced code blocks (a reproduction, a traceback, the
output), inline ``code`` spans, error lines, file names and dotted names. Each clue keeps where
it came from (:data:`Source`), because a name a reproduction *calls* says more than a word of
the prose. Extraction is a pure function of the text: no repository is read here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from patchloop.domain import Frame
from patchloop.localize.codeblocks import CodeNames, code_names
from patchloop.localize.mentions import frames_from_text

__all__ = ["IssueClues", "Message", "Name", "Source", "extract_clues"]

#: Where a name was seen: the title line, a code block, an inline code span, a traceback, prose.
Source = Literal["title", "code", "inline", "traceback", "prose", "import"]

_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"(?<!`)`([^`\n]{1,200})`(?!`)")
_DOCTEST = re.compile(r"^[ \t]*(?:>>>|\.\.\.|In \[\d+\]:)[ \t]?(.*)$", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_PATH = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.(?:py|pyx|pyi|js|ts|rs|go|java|c|h|cfg))\b")
#: ``SomeError: message`` (optionally qualified), as an exception is printed.
_ERROR_LINE = re.compile(
    r"^[ \t>E]*(?:[\w.]+\.)?(?P<kind>[A-Z]\w*(?:Error|Exception|Warning|Exit|Failure|Interrupt))"
    r"(?::[ \t]*(?P<text>.*\S))?[ \t]*$",
    re.MULTILINE,
)
#: A phrase quoted in prose ("... got 'polygon needs three vertices' ...").
_QUOTED = re.compile(r"""(?:(?<=[\s(\[])|^)(["'“‘])([^"'”’\n]{12,200})["'”’](?!\w)""", re.M)
#: A message passed to ``raise`` / ``warn`` in quoted code.
_RAISED = re.compile(
    r"""(?:raise\s+\w+|warn(?:ings\.warn)?)\(\s*(?:f|r|u)?(["'])(?P<text>[^"'\n]{12,})\1"""
)


@dataclass(frozen=True)
class Name:
    """An identifier or dotted name (``Header.fromstring``, ``xr.combine_by_coords``)."""

    text: str
    source: Source
    module: str = ""
    """Module it was imported from in a code block (``from a.b import c`` gives ``a.b``)."""


@dataclass(frozen=True)
class Message:
    """An error or warning text quoted in the issue (``kind`` is the exception class)."""

    kind: str
    text: str


@dataclass(frozen=True)
class IssueClues:
    """Everything :func:`extract_clues` found, in order of appearance."""

    title: str = ""
    names: tuple[Name, ...] = ()
    paths: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    """Dotted module paths imported or written (``astropy.modeling.separable``)."""
    messages: tuple[Message, ...] = ()
    stacks: tuple[tuple[Frame, ...], ...] = ()
    code: tuple[str, ...] = ()
    """Code blocks and doctest lines, prompts stripped."""
    words: tuple[str, ...] = field(default=())
    """Identifier-like words of the whole text (for lexical matching)."""

    def names_from(self, *sources: Source) -> list[Name]:
        """Names seen in any of ``sources``."""
        return [n for n in self.names if n.source in sources]


def extract_clues(text: str) -> IssueClues:
    """The clues of an issue ``text`` (title = its first non-empty line)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    title = next((line.strip() for line in text.split("\n") if line.strip()), "")
    blocks = [m.group(2) for m in _FENCE.finditer(text)]
    prose = _FENCE.sub("\n", text)
    doctest = "\n".join(m.group(1) for m in _DOCTEST.finditer(prose))
    if doctest.strip():
        blocks.append(doctest)
    names: list[Name] = []
    modules: list[str] = []
    code: list[str] = []
    aliases: dict[str, str] = {}
    for block in blocks:
        found = code_names(_strip_prompts(block))
        if found.parsed:
            code.append(found.source)
        names += _names_of(found)
        modules += found.modules
        aliases.update(found.aliases)
    inline = [m.group(1).strip() for m in _INLINE.finditer(prose)]
    for span in inline:
        found = code_names(span)
        if found.parsed and (found.calls or found.attributes or found.imports):
            names += _names_of(found, source="inline")
            names += [Name(w, "inline") for w in _WORD.findall(span) if "." in w]
            modules += found.modules
        else:
            names += [Name(w, "inline") for w in _WORD.findall(span) if _codeish(w, strict=False)]
    prose_no_inline = _INLINE.sub(" ", prose)
    names += [Name(w, "title") for w in _WORD.findall(title) if _codeish(w)]
    names += [Name(w, "prose") for w in _WORD.findall(prose_no_inline) if _codeish(w)]
    names += _aliased(names, aliases)
    stacks = tuple(tuple(stack) for stack in frames_from_text(text))
    for stack in stacks:
        names += [Name(f.function, "traceback") for f in stack if f.function.isidentifier()]
    modules += [w for w in _WORD.findall(text) if w.count(".") >= 2 and w.islower()]
    return IssueClues(
        title=title,
        names=tuple(_dedupe_names(names)),
        paths=tuple(dict.fromkeys(m.group(1) for m in _PATH.finditer(text))),
        modules=tuple(dict.fromkeys(modules)),
        messages=tuple(
            dict.fromkeys([*_messages(text), *_quoted(prose), *_messages("\n".join(inline))])
        ),
        stacks=stacks,
        code=tuple(code),
        words=tuple(dict.fromkeys(_WORD.findall(text))),
    )


def _aliased(names: list[Name], aliases: dict[str, str]) -> list[Name]:
    """Dotted names of the prose written through an alias a code block imports
    (``xr.where`` with ``import xarray as xr`` is ``xarray.where``)."""
    out = []
    for name in names:
        head, dot, rest = name.text.partition(".")
        if dot and head in aliases and name.source in ("title", "prose", "inline"):
            out.append(Name(f"{aliases[head]}.{rest}", name.source))
    return out


def _strip_prompts(block: str) -> str:
    lines = []
    for line in block.split("\n"):
        m = re.match(r"^[ \t]*(?:>>>|\.\.\.|In \[\d+\]:)[ \t]?(.*)$", line)
        lines.append(m.group(1) if m else line)
    return "\n".join(lines)


def _names_of(found: CodeNames, source: Source = "code") -> Iterator[Name]:
    for module, attr in found.imports:
        yield Name(attr or module.rpartition(".")[2], "import", module=module)
    for dotted in found.calls:
        yield Name(dotted, source)
    for attr in found.attributes:
        yield Name(attr, source)
    for name in found.names:
        yield Name(name, source)


_PRIORITY: dict[str, int] = {
    "traceback": 0,
    "import": 1,
    "code": 2,
    "inline": 3,
    "title": 4,
    "prose": 5,
}


def _dedupe_names(names: list[Name]) -> list[Name]:
    """One entry per (text, source); a name keeps every source it was seen in."""
    seen: set[tuple[str, str]] = set()
    out = []
    for name in names:
        if not name.text or (name.text, name.source) in seen:
            continue
        seen.add((name.text, name.source))
        out.append(name)
    return sorted(out, key=lambda n: _PRIORITY[n.source])


def _codeish(word: str, *, strict: bool = True) -> bool:
    """Whether a word of prose looks like code rather than English."""
    leaf = word.rpartition(".")[2]
    if len(leaf) < 3:
        return False
    if "." in word and not word.replace(".", "").isdigit():
        parts = word.split(".")
        return all(p.isidentifier() for p in parts) and not _is_file_name(word)
    if "_" in leaf.strip("_") or (leaf.startswith("_") and len(leaf) > 3):
        return True
    if any(c.isupper() for c in leaf[1:]) and any(c.islower() for c in leaf):
        return True  # camelCase / CapWords with an inner capital
    return not strict and leaf.isidentifier()


def _is_file_name(word: str) -> bool:
    return word.rpartition(".")[2] in {"py", "txt", "rst", "md", "cfg", "toml", "ini", "json"}


def _quoted(prose: str) -> Iterator[Message]:
    for m in _QUOTED.finditer(prose):
        body = m.group(2).strip()
        if " " in body:
            yield Message("", body)


def _messages(text: str) -> Iterator[Message]:
    for m in _ERROR_LINE.finditer(text):
        body = (m.group("text") or "").strip()
        if body:
            yield Message(m.group("kind"), body)
    for m in _RAISED.finditer(text):
        yield Message("", m.group("text").strip())
