from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.config import config_items, load_config
from patchloop.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    resolved = load_config(tmp_path, environ={})
    assert resolved.config.edit_format == "search-replace"
    assert resolved.sources["max_iterations"] == "default"


def test_precedence_file_env_cli(tmp_path: Path) -> None:
    (tmp_path / "patchloop.toml").write_text(
        'max_iterations = 7\nedit_format = "json"\n[model]\ntemperature = 0.3\n'
    )
    resolved = load_config(
        tmp_path,
        environ={"PATCHLOOP_MAX_ITERATIONS": "9", "PATCHLOOP_MODEL__TEMPERATURE": "0.5"},
        cli={"max_iterations": 11, "timeout": None},
    )
    config = resolved.config
    assert config.max_iterations == 11
    assert config.model.temperature == 0.5
    assert config.edit_format == "json"
    assert resolved.sources["max_iterations"] == "cli"
    assert resolved.sources["model.temperature"] == "env:PATCHLOOP_MODEL__TEMPERATURE"
    assert resolved.sources["edit_format"].startswith("file:")
    assert resolved.sources["timeout"] == "default"


def test_pyproject_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.patchloop]\nmodels = ["scripted:r.jsonl"]\n'
        "[tool.patchloop.tests]\nper-test-timeout = 5\n"
    )
    config = load_config(tmp_path, environ={}).config
    assert config.models == ("scripted:r.jsonl",)
    assert config.tests.per_test_timeout == 5


def test_models_from_env_comma_list(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={"PATCHLOOP_MODELS": "scripted:a, scripted:b"}).config
    assert config.models == ("scripted:a", "scripted:b")


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "patchloop.toml").write_text("max_iteration = 3\n")
    with pytest.raises(ConfigError, match="unknown configuration key 'max_iteration'") as info:
        load_config(tmp_path, environ={})
    assert "max_iterations" in str(info.value.hint)


def test_unknown_env_variable_and_bad_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PATCHLOOP_NOPE"):
        load_config(tmp_path, environ={"PATCHLOOP_NOPE": "1"})
    with pytest.raises(ConfigError, match=r"max_iterations.*env:PATCHLOOP_MAX_ITERATIONS"):
        load_config(tmp_path, environ={"PATCHLOOP_MAX_ITERATIONS": "many"})


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "patchloop.toml").write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path, environ={}, config_file=tmp_path / "nope.toml")


def test_config_items_cover_every_leaf(tmp_path: Path) -> None:
    items = config_items(load_config(tmp_path, environ={}))
    keys = [key for key, _, _ in items]
    assert "model.temperature" in keys
    assert "fixers.max_candidates" in keys
    assert all(source == "default" for _, _, source in items)


def test_mapping_values_and_llamacpp_keys(tmp_path: Path) -> None:
    (tmp_path / "patchloop.toml").write_text(
        '[model]\nn_ctx = 2048\n[model.adapters]\nfix = "/tmp/fix.gguf"\n'
    )
    config = load_config(tmp_path, environ={}).config
    assert config.model.n_ctx == 2048
    assert config.model.adapters == {"fix": "/tmp/fix.gguf"}
    env = {"PATCHLOOP_MODEL__ADAPTERS": '{"b": "/b.gguf"}'}
    assert load_config(tmp_path, environ=env).config.model.adapters == {"b": "/b.gguf"}
