"""The intents the router knows, what each means, and the built-in tier policy of each."""

from __future__ import annotations

from types import MappingProxyType

from patchloop.route.settings import IntentPolicy

__all__ = ["BUILTIN_POLICIES", "INTENTS", "RULE_INTENT"]

INTENTS: MappingProxyType[str, str] = MappingProxyType(
    {
        "failing_test": "named tests or a test run fail and should pass",
        "crash": "the program raises an exception, often with a traceback",
        "bug_report": "wrong behaviour described in words, as in an issue",
        "lint": "a linter, formatter or type checker complains",
        "performance": "the code is too slow or uses too much memory",
        "feature": "new behaviour is asked for",
        "refactor": "the structure should change, the behaviour should not",
        "write_tests": "tests should be written or extended",
        "question": "someone asks how or why, and wants an answer rather than a change",
    }
)
"""Intent name to meaning, for help output and the data set's reference."""

RULE_INTENT = "failing_test"
"""The intent of a task with no description: its failing tests are the whole task."""

# Budgets given here never exceed the global ones; values set in ``[route.intents]`` are taken
# as given. Intents whose fix is usually a small local change spend the model-free tier first;
# those that need new code or prose do not, since no repair template writes a feature.
BUILTIN_POLICIES: MappingProxyType[str, IntentPolicy] = MappingProxyType(
    {
        "failing_test": IntentPolicy(fixers=True),
        "crash": IntentPolicy(fixers=True),
        "lint": IntentPolicy(fixers=True),
        "bug_report": IntentPolicy(fixers=True, max_candidates=100, fixer_seconds=60.0),
        "performance": IntentPolicy(fixers=False),
        "feature": IntentPolicy(fixers=False),
        "refactor": IntentPolicy(fixers=False),
        "write_tests": IntentPolicy(fixers=False),
        "question": IntentPolicy(fixers=False, models="cheapest", max_iterations=1),
    }
)
