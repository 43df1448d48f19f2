"""Named models: resolution of ``llamacpp:NAME``, ``models pull`` and ``models list`` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.cli import main
from patchloop.errors import UnknownComponent, UsageError
from patchloop.models import catalog
from patchloop.models.catalog import CATALOG, Catalog, model_cache_dir, resolve_model_file
from patchloop.models.model_cache import ModelCache
from patchloop.models.pull import pull_model
from tests.models.fake_wheels import CopyDownloader, FakeModel, fake_model


@pytest.fixture
def fake(tmp_path: Path) -> FakeModel:
    return fake_model(tmp_path / "index", parts=2)


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("PATCHLOOP_MODEL_CACHE", str(folder))
    return folder


@pytest.fixture
def local_pip(fake: FakeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip reads the fake wheels from a folder, with no index and no user configuration."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(fake.folder))
    monkeypatch.setattr(catalog, "CATALOG", Catalog((*CATALOG.entries, fake.entry)))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_cache_dir_follows_the_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PATCHLOOP_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache_dir() == tmp_path / "xdg" / "patchloop" / "models"
    monkeypatch.setenv("PATCHLOOP_MODEL_CACHE", str(tmp_path / "m"))
    assert model_cache_dir() == tmp_path / "m"
    assert model_cache_dir(tmp_path / "o") == tmp_path / "o"


def test_a_gguf_path_resolves_to_itself(models_dir: Path) -> None:
    assert resolve_model_file("/models/coder.gguf") == Path("/models/coder.gguf")
    assert resolve_model_file("relative/coder.bin") == Path("relative/coder.bin")


def test_an_unpulled_name_says_which_command_pulls_it(models_dir: Path) -> None:
    with pytest.raises(UsageError, match="is not pulled") as info:
        resolve_model_file("qwen2.5-coder-0.5b")
    assert info.value.hint == "patchloop models pull qwen2.5-coder-0.5b"


def test_an_unknown_name_lists_the_known_ones(models_dir: Path) -> None:
    with pytest.raises(UnknownComponent, match="neither a known model name") as info:
        resolve_model_file("qwen-coder-9000")
    assert "qwen2.5-coder-0.5b, qwen2.5-coder-1.5b" in str(info.value.hint)


def test_a_pulled_name_resolves_to_its_file(fake: FakeModel, models_dir: Path) -> None:
    known = Catalog((fake.entry,))
    pull_model(fake.entry, ModelCache(models_dir), downloader=CopyDownloader(fake.folder))
    path = resolve_model_file("FAKE-coder", catalog=known)
    assert path == models_dir / "fake-coder.gguf"
    path.write_bytes(b"changed since it was verified")
    with pytest.raises(UsageError, match=r"'fake-coder' is damaged \(wrong size\)"):
        resolve_model_file("fake-coder", catalog=known)


def test_pull_and_list_through_the_cli_with_pip(
    fake: FakeModel, models_dir: Path, local_pip: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "models", "list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["fake-coder"]["state"] == "not pulled"
    assert rows["fake-coder"]["pull_command"] == "patchloop models pull fake-coder"

    code, out, err = run(capsys, "models", "pull", "fake-coder")
    assert code == 0, err
    assert out.strip() == str(models_dir / "fake-coder.gguf")
    assert "fake-coder: pulled" in err
    assert (models_dir / "fake-coder.gguf").read_bytes() == fake.data

    code, out, _ = run(capsys, "models", "list")
    line = next(x for x in out.splitlines() if x.startswith("fake-coder"))
    assert "pulled" in line
    assert str(models_dir / "fake-coder.gguf") in line
    assert "qwen2.5-coder-1.5b" in out
    assert "not pulled" in out

    code, out, err = run(capsys, "models", "pull", "fake-coder", "--json")
    assert code == 0
    assert json.loads(out)[0]["action"] == "already pulled"


def test_pull_into_a_cache_dir_option(
    fake: FakeModel, models_dir: Path, local_pip: None, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = models_dir.parent / "elsewhere"
    code, _, err = run(capsys, "models", "pull", "fake-coder", "--cache-dir", str(elsewhere))
    assert code == 0, err
    assert (elsewhere / "fake-coder.gguf").is_file()
    assert not models_dir.exists()


def test_no_reachable_index_is_one_clear_line(
    fake: FakeModel,
    models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(catalog, "CATALOG", Catalog((fake.entry,)))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")  # one retry, logged, without a backoff wait
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    code, out, err = run(capsys, "models", "pull", "fake-coder")
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("patchloop: error:")]
    assert errors == [
        "patchloop: error: no package index reachable: pip could not connect "
        "(Connection refused; index http://127.0.0.1:9/simple)"
    ]
    assert "PIP_INDEX_URL" in err
    assert out == ""
    assert sorted(p.name for p in models_dir.rglob("*")) == [".pull", "fake-coder.lock"]


def test_unknown_name_in_the_cli_lists_the_known_ones(tmp_path: Path) -> None:
    env = {**os.environ, "PATCHLOOP_MODEL_CACHE": str(tmp_path / "m")}
    proc = subprocess.run(
        [sys.executable, "-m", "patchloop", "models", "pull", "qwen-nope"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown model name 'qwen-nope'" in proc.stderr
    assert "qwen2.5-coder-0.5b, qwen2.5-coder-1.5b" in proc.stderr
    assert not (tmp_path / "m").exists()


def test_the_catalog_pins_every_part() -> None:
    for entry in CATALOG.entries:
        assert entry.parts == len({p.name for p in entry.packages})
        assert entry.file_name.endswith(".gguf")
    assert CATALOG.get("qwen2.5-coder-1.5b").parts == 22


def test_list_shows_the_parts_an_unfinished_pull_kept(
    fake: FakeModel,
    models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(catalog, "CATALOG", Catalog((fake.entry,)))
    interrupted = CopyDownloader(fake.folder, fail_on_call={1: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        pull_model(fake.entry, ModelCache(models_dir), downloader=interrupted, batch=1)
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    assert out.splitlines() == [
        f"model cache: {models_dir}",
        "fake-coder  not pulled, 1/2 parts downloaded       0 MB  MIT         "
        "patchloop models pull fake-coder",
    ]
