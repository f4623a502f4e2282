"""The motion file: round trip, expression order, clear errors."""

import numpy as np
import pytest
import torch

from headsplat.drive.motion import Motion, load_motion
from headsplat.io.errors import InputError


def _motion(frames: int = 3) -> Motion:
    generator = torch.Generator().manual_seed(0)
    return Motion(
        torch.rand(frames, 3, generator=generator),
        ("jawOpen", "eyeBlink_L", "eyeBlink_R"),
        torch.rand(frames, 2, 2, generator=generator),
        torch.eye(3).expand(frames, 3, 3).clone(),
        torch.rand(frames, 3, generator=generator),
        30.0,
    )


def test_round_trip_and_order(tmp_path):
    motion = _motion()
    path = motion.save(tmp_path / "take.motion.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.motion.npz"]  # nothing else left
    loaded = load_motion(path)
    assert loaded.expression_names == motion.expression_names and loaded.fps == 30.0
    for name in ("expression", "gaze", "rotation", "translation"):
        assert torch.equal(getattr(loaded, name), getattr(motion, name)), name
    reordered = loaded.with_expression_order(["eyeBlink_R", "jawOpen"])
    assert torch.equal(reordered.expression, motion.expression[:, [2, 0]])
    with pytest.raises(InputError, match="mouthSmile_L"):
        loaded.with_expression_order(["jawOpen", "mouthSmile_L"])
    conditions = list(loaded.conditions(None))
    assert len(conditions) == 3 and torch.equal(conditions[1].gaze, motion.gaze[1])


def test_bad_files_say_what_they_are(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    with pytest.raises(InputError, match=r"notes\.npz"):
        load_motion(text)
    other = tmp_path / "other.npz"
    np.savez(other, expression=np.zeros((2, 3)))
    with pytest.raises(InputError, match="missing"):
        load_motion(other)
