"""Preprocessing holds one frame at a time: its memory does not grow with the clip's length."""

from __future__ import annotations

import tracemalloc

from headsplat.preprocess.pipeline import preprocess

from .helpers import fast_config, write_clip

SIZE = 256


def _peak_bytes(video, subject, head_model) -> int:
    """Peak of the memory Python and numpy allocate (numpy's buffers are traced) while preprocessing."""
    tracemalloc.start()
    try:
        preprocess(video, subject, fast_config(size=SIZE), model=head_model, log=lambda _: None)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_frames(tmp_path, d18_160, head_model):
    """24 frames against 8: with the crops and masks of the whole clip in memory, each frame more
    would add its 256 KB of pixels (192 KB crop + 64 KB mask at 256 px); written as they are made,
    a frame adds only its landmarks and tracking (a few KB)."""
    peaks = {}
    for n in (8, 8, 24):  # the first run also loads models and warms caches: not counted
        video = write_clip(tmp_path / f"clip{n}.mp4", d18_160[:n])
        peaks[n] = _peak_bytes(video, tmp_path / f"subject{n}-{len(peaks)}", head_model)
    per_frame = (peaks[24] - peaks[8]) / 16
    assert per_frame < 0.2 * SIZE * SIZE * 4, f"{per_frame / 1024:.0f} KB more per frame"
