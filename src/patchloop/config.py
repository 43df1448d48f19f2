"""Typed configuration, resolved from defaults, a file, the environment and CLI flags.

Precedence, lowest first: defaults, the user's config file
(``$XDG_CONFIG_HOME/patchloop/config.toml``), the repository's ``patchloop.toml`` (or
``[tool.patchloop]`` in ``pyproject.toml``), ``PATCHLOOP_*`` environment variables, command-line
flags (``--config FILE`` is the user's choice and counts as user-level). Nested keys use a dot in
files and flags (``model.temperature``) and a double underscore in variables
(``PATCHLOOP_MODEL__TEMPERATURE``). :func:`load_config` also returns where each value came from,
which ``patchloop config show`` prints.

The repository is untrusted input: its own config may tune the repair, never choose model
endpoints, credentials, the sandbox, code imported on the host or where state is written
(:data:`TRUSTED_ONLY`, :data:`SHORT_NAMES_ONLY`). Such keys in a repository's config are ignored
with a warning that names them. Non-finite numbers (``inf``, ``nan``) are rejected everywhere.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patchloop.errors import ConfigError
from patchloop.store.redact import remember_specs

__all__ = [
    "SHORT_NAMES_ONLY",
    "TRUSTED_ONLY",
    "Config",
    "ContextSettings",
    "FixerSettings",
    "IndexSettings",
    "IntentPolicy",
    "ModelSettings",
    "ResolvedConfig",
    "RouteSettings",
    "SandboxSettings",
    "SearchSettings",
    "TestSettings",
    "load_config",
    "restricted_view",
    "user_config_path",
]

log = logging.getLogger("patchloop.config")

ENV_PREFIX = "PATCHLOOP_"
#: Variables with the prefix that are not configuration keys.
ENV_NOT_CONFIG = frozenset({"PATCHLOOP_API_KEY", "PATCHLOOP_MODEL_CACHE", "PATCHLOOP_KV_CACHE"})


class Section(BaseModel):
    """Base of config sections: frozen, unknown keys rejected."""

    # ``inf`` and ``nan`` are no budget: they break records (non-standard JSON) and replay.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ModelSettings(Section):
    """How model backends are called."""

    temperature: float = Field(default=0.0, ge=0.0)
    """Sampling temperature for edit requests."""
    max_output_tokens: int = Field(default=4096, ge=1)
    """Cap on generated tokens per request (edit requests also stay within twice the tokens of
    the files they may edit)."""
    max_edits: int = Field(default=4, ge=1)
    """Edits one reply may make: the output contract's bound, so a looping model stops."""
    prefix_cache_mb: int = Field(default=2048, ge=0)
    """Disk kept for saved activations of stable prompt prefixes of embedded models, shared by
    every run on this machine ($PATCHLOOP_KV_CACHE, default ~/.cache/patchloop/kv); 0 turns
    the cache off."""
    constrain: bool = True
    """Send the edit format's output contract (grammar or schema) to backends that enforce
    one; off, replies are unconstrained and only checked after they arrive."""
    request_timeout: float = Field(default=300.0, gt=0)
    """Seconds to wait for one completion before it counts as a timeout."""
    retries: int = Field(default=3, ge=0)
    """Retries of a retryable failure (429, 5xx, timeouts, connection errors)."""
    backoff_s: float = Field(default=1.0, ge=0)
    """First backoff delay; doubles per retry with jitter, unless the server sends Retry-After."""
    max_backoff_s: float = Field(default=30.0, ge=0)
    """Longest single wait between retries."""
    api_key_env: str = "OPENAI_API_KEY"
    """Variable holding the API key for ``openai:`` specs; ``PATCHLOOP_API_KEY`` applies to
    every HTTP kind and wins."""
    adapter: str | None = None
    """LoRA adapter to request, where the backend supports adapters."""
    n_ctx: int | None = Field(default=None, ge=1)
    """Context size of an embedded (``llamacpp:``) model; default: its training context."""
    n_threads: int | None = Field(default=None, ge=1)
    """CPU threads of an embedded model; default: the physical cores this process may use."""
    extra_buffers: Literal["auto", "on", "off"] = "auto"
    """Weight repacking into llama.cpp's extra buffer types for an embedded model (faster
    kernels); ``auto`` turns it off on CPUs with AMX, whose kernel crashes on quantized models."""
    draft_tokens: int = Field(default=4, ge=0, le=64)
    """Tokens an embedded model drafts per step from its own context (prompt-lookup
    decoding: replies copy the prompt); the sampler keeps only what it would pick anyway.
    0 decodes one token per step."""
    seed: int | None = None
    """Sampling seed of an embedded model."""
    adapters: dict[str, str] = Field(default_factory=dict)
    """Adapter name to GGUF LoRA path, for embedded models."""


class ContextSettings(Section):
    """How prompts are built."""

    max_tokens: int = Field(default=24_000, ge=1)
    """Prompt budget in tokens (repository context, task and history together)."""
    retriever: Literal["lexical", "hybrid", "none"] = "lexical"
    """Code index searched with the task's words: BM25 and repo map (``lexical``), plus
    embeddings once ``patchloop index`` computed them (``hybrid``), or ``none``."""
    retrieval_k: int = Field(default=30, ge=0)
    """Retriever hits fused into the localization that chooses the repository context."""
    max_file_tokens: int = Field(default=6_000, ge=1)
    """A file larger than this is shown as its relevant functions only."""
    repo_map_tokens: int = Field(default=1024, ge=0)
    """Token budget of the repository map in the prompt's prefix (at most 1/8 of
    ``max_tokens``); 0 leaves the map out."""
    coverage_max_s: float = Field(default=120.0, ge=0)
    """Record per-test coverage for localization when the baseline suite ran faster than this."""


class TestSettings(Section):
    """How tests are run."""

    __test__ = False

    cmd: str = "python -m pytest"
    """Test command, split with shell rules; a leading ``python`` is the harness's interpreter."""
    timeout: float = Field(default=300.0, gt=0)
    """Wall-clock seconds for one test run; the process tree is killed after it."""
    per_test_timeout: float = Field(default=30.0, gt=0)
    """Seconds one test may run before it is stopped and counted as a timeout (0 disables)."""
    output_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    """Captured output per stream; the run is stopped past it, keeping head and tail."""
    regressions: bool = True
    """After the failing tests pass, also run the tests that passed at baseline."""
    warm: bool = True
    """Run tests in a warm pre-forked interpreter where the sandbox and command allow it."""
    plugin_autoload: bool = True
    """Let pytest auto-load installed plugins; false sets PYTEST_DISABLE_PLUGIN_AUTOLOAD."""
    plugins: tuple[str, ...] = ()
    """Plugins to load with ``-p`` (needed when ``plugin_autoload`` is false)."""
    flake_runs: int = Field(default=3, ge=1)
    """Baseline runs compared to find flaky tests (1 disables the check)."""
    full_suite: bool = False
    """Run every regression test for every patch (no coverage-based selection, no cache)."""
    template_cache: str | None = None
    """Directory of prepared repository states: a run of a snapshot already prepared (same
    files, test command, interpreter, installed packages and test settings) reuses its
    baseline and coverage instead of running them again; unset: off."""
    template_max_age_days: float = Field(default=7.0, gt=0)
    """A prepared state older than this is prepared again."""
    template_entries: int = Field(default=200, ge=1)
    """Prepared states kept in ``template_cache``; the oldest go first."""


class FixerSettings(Section):
    """The model-free tier."""

    enabled: bool = True
    """Try model-free repair templates before any model."""
    max_candidates: int = Field(default=300, ge=0)
    """Candidate patches to verify at most."""
    max_seconds: float = Field(default=120.0, gt=0)
    """Seconds the tier may spend."""


class SandboxSettings(Section):
    """Where commands run."""

    kind: str = "auto"
    """``auto`` (bubblewrap when available, else local), ``local``, ``bwrap``, or a dotted path."""
    memory_mb: int | None = Field(default=4096, ge=1)
    """Address-space limit per process in MiB."""
    cpu_s: int | None = Field(default=None, ge=1)
    """CPU seconds per process; ``None`` leaves only the wall clock."""
    processes: int | None = Field(default=512, ge=1)
    """Processes the sandboxed user may have."""


ModelChoice = Literal["all", "cheapest", "largest"] | tuple[str, ...]


class IntentPolicy(Section):
    """Which tiers a task of one intent gets, and their budgets.

    Unset fields fall back to the built-in policy of the intent, then to the global keys
    (``fixers.*``, ``max_iterations``). A tier switched off globally (``fixers.enabled = false``)
    stays off whatever the policy says.
    """

    fixers: bool | None = None
    """Spend the model-free tier first; ``None``: as ``fixers.enabled``."""
    max_candidates: int | None = Field(default=None, ge=0)
    """Fixer candidates to verify at most; ``None``: ``fixers.max_candidates``."""
    fixer_seconds: float | None = Field(default=None, gt=0)
    """Seconds of the model-free tier; ``None``: ``fixers.max_seconds``."""
    models: ModelChoice = "all"
    """``all`` configured models, the ``cheapest`` (first) or ``largest`` (last) only, or a
    list of specs (kept in configured order; specs not configured are ignored)."""
    max_iterations: int | None = Field(default=None, ge=0)
    """Model calls per model tier; ``None``: ``max_iterations``."""
    model_seconds: float | None = Field(default=None, gt=0)
    """Seconds per model tier; ``None``: no limit besides the run's."""
    adapter: str | None = None
    """LoRA adapter to request in every model tier of this intent."""


class RouteSettings(Section):
    """The intent router (``[route]``)."""

    enabled: bool = True
    """Classify the task and shape the plan by its intent; off: the default plan."""
    head: str | None = None
    """Trained classifier head (JSON from ``patchloop route train``; a relative path is taken
    from the working directory); default: the shipped one."""
    backend: str = "onnx"
    """Embedding backend: ``onnx`` (fastest for one text, no torch at query time), ``auto``,
    ``torch-bf16`` or ``torch-fp32``."""
    models_dir: str | None = None
    """Where the exported ONNX graph is cached; default ``$XDG_CACHE_HOME/patchloop/models``."""
    min_confidence: float = Field(default=0.4, ge=0.0, le=1.0)
    """Below this probability the default plan (every tier) is used instead of the intent's."""
    intents: dict[str, IntentPolicy] = Field(default_factory=dict)
    """Per-intent overrides of the built-in policies, e.g. ``[route.intents.question]``."""


class IndexSettings(Section):
    """The code index (``patchloop index``, ``search``, retrieval during repairs)."""

    dir: str | None = None
    """Index store, shared by all repositories; default ``$XDG_CACHE_HOME/patchloop/index``.
    The index reads ``PATCHLOOP_INDEX__DIR`` itself too."""


class SearchSettings(Section):
    """How many candidates each model iteration asks for, and how they are chosen."""

    samples: int = Field(default=1, ge=1, le=16)
    """Candidates per model iteration: the first at the model's temperature, the rest as
    ``sampling`` says; the tests choose among them."""
    temperatures: tuple[Annotated[float, Field(ge=0.0, le=2.0)], ...] = Field(
        default=(0.6, 0.8, 1.0), min_length=1
    )
    """Temperatures of the samples after the first, repeated as needed."""
    sampling: Literal["temperature", "branches"] = "branches"
    """Where the samples after the first come from: ``branches`` (embedded models: the first
    reply decoded on again from each of its least certain tokens with the runner-up token
    there, until it copies the reply again; a branch that would be wasted is dropped for the
    next one; models that cannot branch sample by temperature) or ``temperature`` (the
    ``temperatures`` above, each with its own seed)."""
    retry_temperature: float = Field(default=0.5, ge=0.0, le=2.0)
    """Least temperature of a model's requests after its first: feedback alone rarely changes
    what a greedy small model says."""
    mode: Literal["cascade", "ensemble"] = "cascade"
    """``cascade``: models in turn, cheapest first; ``ensemble``: every model's candidates
    in the same iteration."""
    formats: tuple[str, ...] = ()
    """More edit formats each model is asked in, in the same iteration (short names)."""
    forks: int = Field(default=2, ge=0, le=8)
    """Times a reply that changes nothing or repeats a failed candidate is decoded again from
    the token the model hesitated on most, taking the runner-up there (embedded models, one
    sample per call); 0 turns it off."""
    workers: int = Field(default=1, ge=1, le=16)
    """Candidates verified at the same time, each in its own copy of the project and its own
    warm interpreters; the verdict is the same as one at a time (the first green candidate in
    order of votes, then size, wins)."""


class Config(Section):
    """Resolved configuration of a run."""

    models: tuple[str, ...] = ()
    """Model specs ``KIND:TARGET[#MODEL]``, cheapest first; empty runs the model-free tier only."""
    edit_format: str = "auto"
    """``auto`` (whole files for small embedded models on short files, else
    ``search-replace``), ``search-replace``, ``json``, ``udiff`` or ``whole``."""
    max_iterations: int = Field(default=5, ge=1)
    """Model calls per model tier."""
    max_tokens: int = Field(default=500_000, ge=1)
    """Prompt plus completion tokens for the whole run."""
    timeout: float = Field(default=1800.0, gt=0)
    """Wall-clock seconds for the whole run."""
    allow_test_edits: bool = False
    """Let patches change test files, ``conftest.py`` and test configuration."""
    state_dir: str = ".patchloop"
    """Where run records go, relative to the project directory."""
    model: ModelSettings = ModelSettings()
    context: ContextSettings = ContextSettings()
    tests: TestSettings = TestSettings()
    fixers: FixerSettings = FixerSettings()
    sandbox: SandboxSettings = SandboxSettings()
    route: RouteSettings = RouteSettings()
    index: IndexSettings = IndexSettings()
    search: SearchSettings = SearchSettings()


class ResolvedConfig(BaseModel):
    """A config and where each of its leaf values came from."""

    model_config = ConfigDict(frozen=True)

    config: Config
    sources: dict[str, str] = Field(default_factory=dict)
    """Dotted key to ``default``, ``file:PATH``, ``env:NAME`` or ``cli``."""
    ignored: tuple[str, ...] = ()
    """Keys the repository's own config set and that were ignored (see :data:`TRUSTED_ONLY`)."""


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.update(_leaf_keys(ann, f"{prefix}{name}."))
        else:
            keys[f"{prefix}{name}"] = field
    return keys


LEAVES = _leaf_keys(Config)

#: Keys that only user-level config, the environment and flags may set, never a repository's
#: own config: which servers get requests and which credentials go with them, how isolated the
#: tests run, files loaded on the host, and where patchloop writes its state.
TRUSTED_ONLY = frozenset(
    {
        "models",
        "model.api_key_env",
        "model.adapters",
        "sandbox.kind",
        "state_dir",
        "index.dir",
        "route.head",
        "route.models_dir",
        "tests.template_cache",
        "tests.template_max_age_days",
        "tests.template_entries",
    }
)
#: Keys that name a component: a repository's config may give a registered short name, never a
#: dotted path (which would import code on the host).
SHORT_NAMES_ONLY = frozenset({"edit_format", "search.formats"})


def _trusted_only(key: str, value: Any) -> bool:
    if key in TRUSTED_ONLY:
        return True
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return key in SHORT_NAMES_ONLY and any(
        isinstance(name, str) and any(c in name for c in ".:/") for name in names
    )


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key.replace('-', '_')}"
        if isinstance(value, Mapping) and dotted not in LEAVES:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _check_keys(flat: Mapping[str, Any], where: str) -> None:
    for key in flat:
        if key not in LEAVES:
            valid = ", ".join(sorted(LEAVES))
            raise ConfigError(
                f"unknown configuration key {key!r} in {where}", hint=f"valid: {valid}"
            )


def user_config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The user's own config file: ``$XDG_CONFIG_HOME/patchloop/config.toml`` (default
    ``~/.config``); ``None`` when neither variable is set."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    if not base or not os.path.isabs(base):
        home = env.get("HOME", "")
        base = os.path.join(home, ".config") if home else ""
    return Path(base) / "patchloop" / "config.toml" if base else None


def find_config_file(project: Path, git_root: Path | None = None) -> tuple[Path, str] | None:
    """The config file that applies to ``project``: ``(path, table)`` or ``None``."""
    for directory in dict.fromkeys([project, *([git_root] if git_root else [])]):
        toml_path = directory / "patchloop.toml"
        if toml_path.is_file():
            return toml_path, ""
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            data = _read_toml(pyproject)
            if "patchloop" in data.get("tool", {}):
                return pyproject, "tool.patchloop"
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix the file's TOML syntax") from exc


def _file_values(path: Path, table: str) -> dict[str, Any]:
    data: Any = _read_toml(path)
    for part in filter(None, table.split(".")):
        data = data.get(part, {})
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{table}] in {path} is not a table")
    return _flatten(data)


def _env_value(raw: str) -> Any:
    text = raw.strip()
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"cannot parse JSON value {raw!r}") from exc
    return raw


def _env_values(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    values: dict[str, tuple[Any, str]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_CONFIG:
            continue
        key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        if key not in LEAVES:
            valid = ", ".join(ENV_PREFIX + k.upper().replace(".", "__") for k in sorted(LEAVES))
            raise ConfigError(f"unknown configuration variable {name}", hint=f"valid: {valid}")
        value: Any = _env_value(raw)
        if key == "models" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        values[key] = (value, f"env:{name}")
    return values


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def load_config(
    project: Path,
    *,
    git_root: Path | None = None,
    config_file: Path | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedConfig:
    """Resolve the configuration for ``project``.

    ``cli`` maps dotted keys to values given on the command line; ``None`` values mean the flag
    was not given. ``config_file`` (``--config``) replaces the repository's config file and, as
    the user's explicit choice, may set every key.
    """
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    ignored: list[str] = []
    user_file = user_config_path(env)
    if user_file is not None and user_file.is_file():
        values = _file_values(user_file, "")
        _check_keys(values, str(user_file))
        for key, value in values.items():
            merged[key] = value
            sources[key] = f"file:{user_file}"
    found: tuple[Path, str] | None
    trusted = config_file is not None
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} does not exist")
        table = "tool.patchloop" if config_file.name == "pyproject.toml" else ""
        found = (config_file, table)
    else:
        found = find_config_file(project, git_root)
    if found is not None:
        path, table = found
        values = _file_values(path, table)
        _check_keys(values, str(path))
        for key, value in values.items():
            if not trusted and _trusted_only(key, value):
                ignored.append(key)
                continue
            merged[key] = value
            sources[key] = f"file:{path}"
        if ignored:
            log.warning(
                "%s sets %s: a repository's own config may not choose models, credentials, the "
                "sandbox, code to import or where state is written; ignored (set them in %s, "
                "with PATCHLOOP_* variables or with flags)",
                path,
                ", ".join(ignored),
                user_file or "the user's config file",
            )
    for key, (value, source) in _env_values(env).items():
        merged[key] = value
        sources[key] = source
    for key, value in (cli or {}).items():
        if value is None:
            continue
        if key not in LEAVES:
            raise ConfigError(f"unknown configuration key {key!r}")
        merged[key] = value
        sources[key] = "cli"
    try:
        config = Config.model_validate(_nest(merged))
    except ValidationError as exc:
        raise _invalid(exc, sources) from exc
    for key in LEAVES:
        sources.setdefault(key, "default")
    # From here on, credentials in model URLs are masked in records, events and logs.
    remember_specs(config.models)
    return ResolvedConfig(config=config, sources=sources, ignored=tuple(ignored))


def _invalid(exc: ValidationError, sources: Mapping[str, str]) -> ConfigError:
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    origin = next(
        (sources[k] for k in (key, key.rsplit(".", 1)[0]) if k in sources), "configuration"
    )
    return ConfigError(f"invalid value for {key!r} ({origin}): {first['msg']}")


def restricted_view(data: Mapping[str, Any], trusted: Config) -> Config:
    """``data`` (a recorded config, untrusted) with every :data:`TRUSTED_ONLY` or component key
    taken from ``trusted`` instead; ``models`` is kept (replay only uses them as names)."""
    flat = _flatten(data)
    mine = _flatten(trusted.model_dump(mode="json"))
    for key in TRUSTED_ONLY - {"models"}:
        flat[key] = mine[key]
    for key in SHORT_NAMES_ONLY:
        if _trusted_only(key, flat.get(key)):
            flat[key] = mine[key]
    try:
        return Config.model_validate(_nest(flat))
    except ValidationError as exc:
        raise _invalid(exc, {}) from exc


def config_items(resolved: ResolvedConfig) -> list[tuple[str, Any, str]]:
    """``(dotted key, value, source)`` for every leaf, in declaration order."""
    data = _flatten(resolved.config.model_dump(mode="json"))
    return [(key, data.get(key), resolved.sources.get(key, "default")) for key in LEAVES]
