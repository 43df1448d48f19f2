"""The pull's progress on a stream that is not a terminal: a few plain lines per stage."""

from __future__ import annotations

import io

from patchloop.cli.transfer_progress import TransferProgress


def test_plain_lines_at_each_quarter_and_notes_between() -> None:
    out = io.StringIO()
    with TransferProgress(out) as progress:
        assert not progress.live
        progress.note("pulling a model")
        progress.begin("assemble", 8_000_000, "bytes")
        for _ in range(8):
            progress.advance(1_000_000)
        progress.begin("download", 3, "parts")
        progress.advance(3)
    assert out.getvalue().splitlines() == [
        "pulling a model",
        "assemble: 0/8 MB",
        "assemble: 2/8 MB",
        "assemble: 4/8 MB",
        "assemble: 6/8 MB",
        "assemble: 8/8 MB",
        "download: 0/3 parts",
        "download: 3/3 parts",
    ]


def test_a_live_bar_writes_to_its_stream_only() -> None:
    out = io.StringIO()
    with TransferProgress(out, live=True) as progress:
        progress.begin("download", 2, "parts")
        progress.advance(2)
    assert "download" in out.getvalue()
