"""The single error tree of patchloop.

Every error that crosses a seam is one of these. Foreign errors (httpx, subprocess, OSError,
pydantic) are translated at the boundary with ``raise ... from exc``.

    PatchloopError
    ├── UsageError                 bad input from the user; the CLI exits 2
    │   ├── ConfigError            unknown key, bad value, unreadable config file
    │   ├── RepositoryError        not a git work tree, missing path, bad ref
    │   └── UnknownComponent       a registry name that does not exist
    ├── NothingToFix               the baseline is green; the CLI exits 3
    ├── ModelError                 a backend failed; ``retryable`` says whether to try again
    │   ├── RateLimited            429 / overloaded; may carry ``retry_after``
    │   ├── ModelUnavailable       connection refused, 5xx, health check failed
    │   ├── ModelTimeout           no answer within the request timeout
    │   ├── ContextTooLong         prompt exceeds the model's context window
    │   ├── AuthError              missing or rejected credentials
    │   ├── BadRequest             the server rejected the request (4xx)
    │   └── BadOutput              the reply breaks the output contract
    ├── EditError                  an edit the model can correct; carries ``feedback``
    │   ├── ParseError             the reply could not be parsed into edits
    │   │   └── NotAFile           a whole-file block holds a diff, not the file
    │   ├── ApplyError             an edit does not apply (no match, ambiguous match)
    │   ├── UnsafeEdit             path outside the repository, ``.git/``, escaping symlink
    │   ├── GuardError             the patch touches protected test files or test config
    │   ├── OutOfScope             an edit names a file the reply may not edit
    │   ├── InvalidSyntax          the patch breaks the syntax of a file that compiled
    │   ├── CosmeticEdit           the patch changes only annotations, typing imports, layout
    │   └── RepeatedEdit           the reply repeats an earlier attempt's edits
    ├── SandboxError               running a command failed for reasons of the harness
    │   └── InfrastructureError    test command missing, tests cannot be collected, ...
    ├── BudgetExceeded             iterations, tokens or time ran out
    └── ServiceError               the service refused a request; ``status`` is the HTTP status
        ├── AuthenticationFailed   no API key, or one the server does not know (401)
        ├── PermissionDenied       the key's scopes do not cover the repository (403)
        ├── NotFound               no such run for the key's team (404)
        ├── Conflict               an idempotency key reused for another request (409)
        ├── PayloadTooLarge        body, diff or test list over the server's limits (413)
        └── TooManyRequests        the key's request rate is spent (429); ``retry_after``
"""

from __future__ import annotations

__all__ = [
    "ApplyError",
    "AuthError",
    "AuthenticationFailed",
    "BadOutput",
    "BadRequest",
    "BudgetExceeded",
    "ConfigError",
    "Conflict",
    "ContextTooLong",
    "CosmeticEdit",
    "EditError",
    "GuardError",
    "InfrastructureError",
    "InvalidSyntax",
    "ModelError",
    "ModelTimeout",
    "ModelUnavailable",
    "NotAFile",
    "NotFound",
    "NothingToFix",
    "OutOfScope",
    "ParseError",
    "PatchloopError",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RepeatedEdit",
    "RepositoryError",
    "SandboxError",
    "ServiceError",
    "TooManyRequests",
    "UnknownComponent",
    "UnsafeEdit",
    "UsageError",
]


class PatchloopError(Exception):
    """Base of every error patchloop raises on purpose."""

    #: Whether trying the same operation again may succeed.
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: What the user can do about it, shown after the message.
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(PatchloopError):
    """The user asked for something that cannot work as given."""


class ConfigError(UsageError):
    """A configuration file, variable or flag is invalid."""


class RepositoryError(UsageError):
    """The repository path, work tree or ref is unusable."""


class UnknownComponent(UsageError):
    """A short name that no registry knows; the message lists the valid names."""


class NothingToFix(PatchloopError):
    """All selected tests already pass on the untouched snapshot."""


class ModelError(PatchloopError):
    """A model backend failed to produce a completion."""

    def __init__(
        self, message: str, *, hint: str | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        if retryable is not None:
            self.retryable = retryable


class RateLimited(ModelError):
    """The server is overloaded or rate limits us."""

    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        #: Seconds the server asked us to wait, when it said so.
        self.retry_after = retry_after


class ModelUnavailable(ModelError):
    """The server cannot be reached or answered with a server error."""

    retryable = True


class ModelTimeout(ModelError):
    """The server did not answer within the request timeout."""

    retryable = True


class ContextTooLong(ModelError):
    """The prompt does not fit the model's context window."""


class AuthError(ModelError):
    """Credentials are missing or were rejected."""


class BadRequest(ModelError):
    """The server rejected the request itself (unknown model, bad schema, ...)."""


class BadOutput(ModelError):
    """The reply does not satisfy the output contract (schema, grammar, truncation)."""

    retryable = True


class EditError(PatchloopError):
    """An edit that failed in a way the model can correct; ``feedback`` is shown to it."""

    def __init__(self, message: str, *, feedback: str | None = None) -> None:
        super().__init__(message)
        #: Text for the next prompt: what went wrong and what a correct edit looks like.
        self.feedback = feedback or message


class ParseError(EditError):
    """The reply could not be parsed into edits."""


class NotAFile(ParseError):
    """A block meant to hold a whole file's new content holds something else (a diff)."""


class ApplyError(EditError):
    """An edit does not apply to the snapshot."""


class UnsafeEdit(EditError):
    """An edit targets a path outside the repository, ``.git/`` or through a symlink."""


class GuardError(EditError):
    """The patch changes protected test files or test configuration."""


class OutOfScope(EditError):
    """An edit names a file this reply may not edit (a test file, or a file not shown)."""


class InvalidSyntax(EditError):
    """The patch leaves a syntax error in a source file that compiled before it."""


class UndefinedNames(InvalidSyntax):
    """The patch leaves a Python file reading names it bound before and binds no more (a
    dropped import or helper): it would fail with a ``NameError``."""


class CosmeticEdit(EditError):
    """The patch changes only what cannot change behaviour: annotations the code did not have,
    typing imports, comments, layout (see :mod:`patchloop.edits.behaviour`)."""


class RepeatedEdit(EditError):
    """The reply repeats the edits of an earlier attempt, whose outcome is already known."""


class SandboxError(PatchloopError):
    """The harness could not run a command as asked."""


class InfrastructureError(SandboxError):
    """A failure of the environment, not of the patch: retried, never graded."""

    retryable = True


class BudgetExceeded(PatchloopError):
    """The run spent its iterations, tokens or time."""


class ServiceError(PatchloopError):
    """The repair service refused a request; ``status`` is the HTTP status it answers with."""

    status: int = 400


class AuthenticationFailed(ServiceError):
    """No API key was sent, or the server knows no such key."""

    status = 401


class PermissionDenied(ServiceError):
    """The key is valid but its scopes do not cover what the request asks for."""

    status = 403


class NotFound(ServiceError):
    """No such run, or one that belongs to another team."""

    status = 404


class Conflict(ServiceError):
    """The request contradicts an earlier one (an idempotency key reused for another body)."""

    status = 409


class PayloadTooLarge(ServiceError):
    """The body, the diff or the list of tests is over the server's limits."""

    status = 413


class TooManyRequests(ServiceError):
    """The key sent more requests than its rate allows."""

    status = 429

    def __init__(self, message: str, *, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        #: Seconds until the next request is accepted.
        self.retry_after = retry_after
