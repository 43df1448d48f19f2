from __future__ import annotations

import json
from pathlib import Path

from patchloop.domain import Event
from patchloop.store import RunStore
from patchloop.store.redact import remember_specs, scrub, scrub_urls, spec_secrets, url_secrets


def test_url_secrets_user_info_tokens_and_query_keys() -> None:
    assert url_secrets("https://alice:pa%24s@h/v1") >= {"alice:pa%24s@", "pa%24s", "pa$s"}
    assert "TOKEN123" in url_secrets("https://TOKEN123@h/v1")
    assert "K3Y" in url_secrets("https://h/v1?api_key=K3Y&model=m")
    assert url_secrets("https://h/v1?model=m") == set()
    assert spec_secrets(["openai:https://u:pw12345@h/v1#m", "scripted:x.jsonl"]) >= {"pw12345"}


def test_scrub_masks_remembered_credentials_everywhere() -> None:
    remember_specs(["vllm:http://bob:sw0rdfish-77@10.0.0.1:8000/v1#m"])
    text = 'tier vllm:http://bob:sw0rdfish-77@10.0.0.1:8000/v1#m said "sw0rdfish-77"'
    assert "sw0rdfish-77" not in scrub(text)
    assert "http://***@10.0.0.1" in scrub(text)


def test_short_passwords_are_masked_only_inside_their_url() -> None:
    remember_specs(["openai:http://u:ab@h/v1#m"])
    assert scrub("http://u:ab@h/v1 and a tab") == "http://***@h/v1 and a tab"


def test_scrub_urls_masks_any_user_info() -> None:
    assert scrub_urls("cannot reach https://x:y@host/v1: refused") == (
        "cannot reach https://***@host/v1: refused"
    )
    assert scrub_urls("mail me@example.com") == "mail me@example.com"


def test_run_writer_never_writes_remembered_credentials(tmp_path: Path) -> None:
    remember_specs(["openai:https://k:writer-secret-9@h/v1#m"])
    writer = RunStore(tmp_path / "state").create("r1")
    writer.event(Event(t=0.0, kind="x", message="https://k:writer-secret-9@h/v1"))
    writer.write_json("config.json", {"models": ["openai:https://k:writer-secret-9@h/v1#m"]})
    writer.write_text("attempts/001/feedback.txt", "writer-secret-9")
    writer.close()
    stored = "".join(p.read_text() for p in (tmp_path / "state").rglob("*") if p.is_file())
    assert "writer-secret-9" not in stored
    config = json.loads((writer.directory / "config.json").read_text())
    assert config["models"] == ["openai:https://***@h/v1#m"]
