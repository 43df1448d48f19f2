"""Model specs and the ``model kind`` registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.config import ModelSettings
from patchloop.errors import UnknownComponent, UsageError
from patchloop.models import MODELS, ScriptedModel, build_model, parse_spec
from patchloop.models.openai import OpenAIModel
from patchloop.models.tgi import TGIModel


def test_url_colons_stay_in_target() -> None:
    spec = parse_spec("openai:http://127.0.0.1:8000/v1#qwen2.5-coder-7b")
    assert (spec.kind, spec.target, spec.model) == (
        "openai",
        "http://127.0.0.1:8000/v1",
        "qwen2.5-coder-7b",
    )
    assert str(spec) == "openai:http://127.0.0.1:8000/v1#qwen2.5-coder-7b"


def test_model_names_with_colons_and_slashes() -> None:
    assert parse_spec("ollama:http://h:11434/v1#qwen2.5-coder:7b").model == "qwen2.5-coder:7b"
    assert parse_spec("vllm:http://h:8000/v1/#Qwen/Qwen2.5").target == "http://h:8000/v1"
    assert parse_spec("tgi:http://127.0.0.1:8080").model is None
    assert parse_spec("scripted:replies.jsonl").target == "replies.jsonl"


@pytest.mark.parametrize("bad", ["", "openai", ":http://x", "openai:", "openai:#m"])
def test_malformed_specs_show_an_example(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_spec(bad)
    assert "openai:http://127.0.0.1:8000/v1#qwen2.5-coder-7b" in str(info.value)


def test_url_without_kind_suggests_one() -> None:
    with pytest.raises(UsageError, match=r"openai:http://127\.0\.0\.1:8000/v1"):
        parse_spec("http://127.0.0.1:8000/v1")


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(UnknownComponent) as info:
        build_model("vlm:http://127.0.0.1:8000/v1")
    text = str(info.value)
    for kind in ("openai", "vllm", "sglang", "llama-server", "llama-cpp-python", "ollama", "tgi"):
        assert kind in text
    assert "#qwen2.5-coder-7b" in text


def test_registry_kinds() -> None:
    assert set(MODELS.names()) == {
        "openai",
        "vllm",
        "sglang",
        "llama-server",
        "llama-cpp-python",
        "ollama",
        "tgi",
        "scripted",
        "llamacpp",
    }


def test_build_each_kind(tmp_path: Path) -> None:
    replies = tmp_path / "r.jsonl"
    replies.write_text('"hi"\n')
    scripted = build_model(f"scripted:{replies}")
    assert isinstance(scripted, ScriptedModel)
    assert scripted.name == f"scripted:{replies}"
    vllm = build_model("vllm:http://127.0.0.1:9/v1#m", ModelSettings())
    assert isinstance(vllm, OpenAIModel)
    assert vllm.profile.kind == "vllm"
    assert vllm.name == "vllm:http://127.0.0.1:9/v1#m"
    vllm.close()
    tgi = build_model("tgi:http://127.0.0.1:9")
    assert isinstance(tgi, TGIModel)
    tgi.close()


def test_bare_host_gets_v1() -> None:
    model = build_model("sglang:http://127.0.0.1:30000#m")
    assert isinstance(model, OpenAIModel)
    assert model.base_url == "http://127.0.0.1:30000/v1"
    model.close()


def test_non_url_target_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not an http"):
        build_model("openai:localhost:8000")


def test_dotted_path_kind() -> None:
    model = build_model("patchloop.models.openai.from_spec:http://127.0.0.1:9/v1#m")
    assert isinstance(model, OpenAIModel)
    model.close()
