"""The embedded backend: loading, generation through the file's chat template, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from patchloop.config import ModelSettings
from patchloop.domain import CompletionRequest, Message, OutputContract, Sampling
from patchloop.errors import BadRequest, ContextTooLong, ModelUnavailable, UsageError
from patchloop.models import build_model
from patchloop.models.llamacpp import LlamaCppModel, from_spec
from patchloop.models.spec import parse_spec
from patchloop.models.tiny import TinyModel

CODE = "def clamp(value, low, high):\n    return max(low, min(value, high))\n"


def _ask(text: str, **sampling: object) -> CompletionRequest:
    return CompletionRequest(
        messages=(
            Message(role="system", content="You fix Python code."),
            Message(role="user", content=text),
        ),
        sampling=Sampling(**sampling),  # type: ignore[arg-type]
    )


def test_generates_through_the_chat_template_of_the_file(
    model: LlamaCppModel, tiny: TinyModel
) -> None:
    replies = [
        model.complete(_ask("Fix clamp.", temperature=1.0, max_tokens=30, seed=s)) for s in range(5)
    ]
    assert any(r.text for r in replies)
    assert all(r.finish_reason in ("stop", "length") for r in replies)
    assert all(r.usage.completion_tokens <= 30 for r in replies)
    reply = replies[0]
    assert reply.model == "patchloop-tiny"
    # The prompt the engine saw is the ChatML rendering, tokenized as the reference tokenizer does.
    chatml = (
        "<|im_start|>system\nYou fix Python code.<|im_end|>\n"
        "<|im_start|>user\nFix clamp.<|im_end|>\n<|im_start|>assistant\n"
    )
    reference = Tokenizer.from_file(str(tiny.tokenizer))
    assert reply.usage.prompt_tokens == len(reference.encode(chatml).ids)


def test_greedy_decoding_is_repeatable(model: LlamaCppModel) -> None:
    first = model.complete(_ask("Fix clamp.", temperature=0.0, max_tokens=20))
    model.complete(_ask("Something else entirely.", temperature=1.0, max_tokens=5))
    again = model.complete(_ask("Fix clamp.", temperature=0.0, max_tokens=20))
    assert first.text == again.text


def test_seeds_make_samples_repeatable_and_varied(model: LlamaCppModel) -> None:
    texts = [
        model.complete(_ask("Go.", temperature=1.0, max_tokens=12, seed=s)).text for s in (1, 2, 1)
    ]
    assert texts[0] == texts[2]
    assert texts[0] != texts[1]


def test_count_tokens_uses_the_model_tokenizer(model: LlamaCppModel, tiny: TinyModel) -> None:
    reference = Tokenizer.from_file(str(tiny.tokenizer))
    assert model.capabilities.tokenizer
    assert model.count_tokens(CODE) == len(reference.encode(CODE).ids)
    assert model.count_tokens("") == 0


def test_stop_strings_end_the_reply(model: LlamaCppModel) -> None:
    forced = OutputContract(name="fixed", grammar='root ::= "PATCH abc DONE more"')
    request = _ask("Go.", max_tokens=50, stop=("DONE",)).model_copy(update={"contract": forced})
    reply = model.complete(request)
    assert reply.text == "PATCH abc "
    assert reply.finish_reason == "stop"


def test_from_spec_names_the_model(tiny: TinyModel) -> None:
    spec = parse_spec(f"llamacpp:{tiny.model}#tiny-coder")
    with from_spec(spec, ModelSettings()) as loaded:
        assert loaded.name == f"llamacpp:{tiny.model}#tiny-coder"
        assert loaded.context_size == 4096  # the file's training context
        reply = loaded.complete(_ask("Hi.", max_tokens=3))
        assert reply.model == "tiny-coder"
        assert loaded.capabilities.constrained_output
        assert loaded.capabilities.adapters


def test_context_size_and_threads_are_honoured(tiny: TinyModel) -> None:
    with LlamaCppModel(tiny.model, n_ctx=512, n_threads=1) as loaded:
        assert loaded.context_size == 512
        assert loaded.threads == 1


def test_build_model_loads_it_by_dotted_kind(tiny: TinyModel, tmp_path: Path) -> None:
    spec = f"patchloop.models.llamacpp.from_spec:{tiny.model}"
    loaded = build_model(spec, ModelSettings(), capabilities_file=tmp_path / "none.json")
    assert isinstance(loaded, LlamaCppModel)
    with loaded:
        assert loaded.complete(_ask("Hi.", max_tokens=2)).usage.prompt_tokens > 0


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist") as info:
        LlamaCppModel(tmp_path / "nope.gguf")
    assert "nope.gguf" in str(info.value)


def test_file_that_is_not_gguf_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_text("{}")
    with pytest.raises(UsageError, match="is not a GGUF model file") as info:
        LlamaCppModel(path)
    assert "convert_hf_to_gguf" in str(info.value)


def test_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a file"):
        LlamaCppModel(tmp_path)


def test_adapter_given_as_model_is_a_usage_error(tiny: TinyModel) -> None:
    with pytest.raises(UsageError, match="is a LoRA adapter, not a model"):
        LlamaCppModel(tiny.adapters[0])


def test_gguf_llama_cpp_cannot_load_is_unavailable(tiny: TinyModel, tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    data = tiny.model.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header intact, tensor data missing
    with pytest.raises(ModelUnavailable, match="could not load") as info:
        LlamaCppModel(path)
    assert info.value.retryable is False
    assert "Failed to load model" in str(info.value)


def test_missing_engine_names_the_extra(tiny: TinyModel, monkeypatch: pytest.MonkeyPatch) -> None:
    import patchloop.models

    monkeypatch.delattr(patchloop.models, "_llamacpp_engine")
    monkeypatch.delitem(sys.modules, "patchloop.models._llamacpp_engine")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(UsageError, match="needs llama_cpp") as info:
        LlamaCppModel(tiny.model)
    assert "pip install 'patchloop[local]'" in str(info.value)


def test_prompt_longer_than_the_context(tiny: TinyModel) -> None:
    with LlamaCppModel(tiny.model, n_ctx=256) as small:
        long_text = CODE * 40
        assert small.count_tokens(long_text) > 256
        with pytest.raises(ContextTooLong, match="context of 256"):
            small.complete(_ask(long_text, max_tokens=5))
        # The reply is cut where the context ends, never past it.
        fits = small.complete(_ask(CODE * 4, max_tokens=500))
        assert fits.usage.prompt_tokens + fits.usage.completion_tokens <= 256


def test_invalid_grammar_is_a_bad_request(model: LlamaCppModel) -> None:
    bad = OutputContract(name="broken", grammar='root ::= "a" missing-rule')
    request = _ask("Go.", max_tokens=5).model_copy(update={"contract": bad})
    with pytest.raises(BadRequest, match="rejected the grammar of the 'broken'") as info:
        model.complete(request)
    assert "missing-rule" in str(info.value)
    assert info.value.retryable is False
    # The model still works afterwards.
    assert model.complete(_ask("Go.", max_tokens=2)).usage.completion_tokens >= 1


def test_max_tokens_below_one_is_a_bad_request(model: LlamaCppModel) -> None:
    with pytest.raises(BadRequest, match="at least 1"):
        model.complete(_ask("Go.", max_tokens=0))
