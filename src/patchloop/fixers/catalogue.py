"""The catalogue of repair templates: name, bug kind, prior.

Priors estimate how likely one candidate of a template is the fix, relative to the others. They
combine two general facts, never a particular task: how often the bug kind occurs in published
corpora of small real bugs, and how many alternatives the template proposes at one place (a
frequent kind with many alternatives per place, such as a wrong variable, gets a lower
per-candidate prior than a rarer kind with one or two alternatives, such as ``<`` vs ``<=``).

Frequencies: ManySStuBs4J single-statement bugs (Karampatsis & Sutton, MSR 2020; counts per
pattern as tabulated by github.com/h4iku/repairSStuBs: change identifier 2429, different method
same args 1422, change numeral 754, more args 662, change operator 250, less specific if 187,
change caller 177, deleted args 162, change unary operator 161, more specific if 154, swap
arguments 120, swap boolean literal 112, change operand 93); the Python counterparts PySStuBs
(Kamienski et al., MSR 2021) and TSSB-3M (Richter & Wehrheim, MSR 2022), which report the same
pattern families for Python; and the defect classes of QuixBugs (Lin et al., 2017) and of
HumanEvalPack (Muennighoff et al., 2023: value misuse, missing logic, excess logic, operator
misuse, variable misuse, function misuse). Operator and off-by-one templates come first (few
alternatives, frequent); identifier substitution and inserted statements come last (many
alternatives each).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from patchloop.errors import UnknownComponent
from patchloop.fixers._types import Template
from patchloop.fixers.rules import (
    arithmetic,
    boolean,
    calls,
    comparison,
    condition,
    defaults,
    exceptions,
    excess,
    graft,
    guards,
    literals,
    names,
    off_by_one,
    returns,
    slices,
    statements,
    swap,
)

__all__ = ["TEMPLATES", "select_templates", "template_names"]

_MODULES: tuple[ModuleType, ...] = (
    comparison,
    boolean,
    arithmetic,
    off_by_one,
    condition,
    swap,
    calls,
    returns,
    exceptions,
    defaults,
    slices,
    excess,
    literals,
    names,
    statements,
    graft,
    guards,
)


def _template(module: ModuleType) -> Template:
    doc = (module.generate.__doc__ or module.__doc__ or "").strip()
    return Template(name=module.NAME, prior=module.PRIOR, generate=module.generate, doc=doc)


TEMPLATES: tuple[Template, ...] = tuple(_template(m) for m in _MODULES)
"""Every template, in catalogue order."""


def template_names() -> list[str]:
    """Names of all templates, in catalogue order."""
    return [t.name for t in TEMPLATES]


def select_templates(names: Sequence[str] | None = None) -> tuple[Template, ...]:
    """The templates called ``names`` (all of them for ``None``); unknown names are an error."""
    if names is None:
        return TEMPLATES
    by_name = {t.name: t for t in TEMPLATES}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UnknownComponent(
            f"unknown repair template(s): {', '.join(unknown)}",
            hint=f"valid names: {', '.join(template_names())}",
        )
    return tuple(by_name[n] for n in names)
