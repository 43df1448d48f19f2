"""Saved prompt-prefix states: keys, round trips, the size bound, failures that do not fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchloop.models._prefix_store import PrefixStore, default_store_dir, model_identity


def test_keys_depend_on_model_adapter_and_every_token() -> None:
    a = PrefixStore(Path("/x"), "model-a", max_bytes=1)
    b = PrefixStore(Path("/x"), "model-b", max_bytes=1)
    key = a.key([1, 2, 3], None)
    assert key == a.key([1, 2, 3], None)
    assert key != b.key([1, 2, 3], None)
    assert key != a.key([1, 2, 3], "lora")
    assert key != a.key([1, 2, 4], None)
    assert key != a.key([1, 2], None)


def test_round_trip_and_miss(tmp_path: Path) -> None:
    store = PrefixStore(tmp_path / "kv", "m", max_bytes=1000)
    key = store.key([5, 6], None)
    assert store.load(key) is None
    store.save(key, b"state")
    assert store.has(key)
    assert store.load(key) == b"state"
    assert (store.saves, store.loads) == (1, 1)
    assert not list((tmp_path / "kv").glob("*.tmp"))


def test_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    store = PrefixStore(tmp_path, "m", max_bytes=250)
    keys = [store.key([i], None) for i in range(3)]
    for age, key in enumerate(keys[:2]):
        store.save(key, b"x" * 100)
        os.utime(tmp_path / f"{key}.kv", (1000 + age, 1000 + age))
    store.load(keys[0])  # used now: the newest
    store.save(keys[2], b"y" * 100)
    assert store.has(keys[0])
    assert not store.has(keys[1])
    assert store.has(keys[2])


def test_too_large_or_unwritable_is_skipped_quietly(tmp_path: Path) -> None:
    store = PrefixStore(tmp_path, "m", max_bytes=10)
    store.save(store.key([1], None), b"z" * 11)
    assert store.saves == 0
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    PrefixStore(blocked / "kv", "m", max_bytes=100).save("k", b"data")


def test_identity_changes_with_the_file(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"one")
    first = model_identity(model)
    model.write_bytes(b"other")
    assert model_identity(model) != first


def test_default_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATCHLOOP_KV_CACHE", str(tmp_path / "kv"))
    assert default_store_dir() == tmp_path / "kv"
    monkeypatch.delenv("PATCHLOOP_KV_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_store_dir() == tmp_path / "cache" / "patchloop" / "kv"
