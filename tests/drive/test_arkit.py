"""ARKit captures: Live Link Face CSVs and plain weight files as motions of an ICT-named avatar."""

import json
import warnings

import numpy as np
import pytest
import torch

from headsplat.drive.arkit import (
    ARKIT_SHAPES,
    LIVE_LINK_FACE_ANGLES,
    ict_columns,
    read_live_link_face,
    read_weights,
    timecode_seconds,
)
from headsplat.geometry import axis_angle_to_matrix
from headsplat.io.errors import InputError

ARKIT, ANGLES = list(ARKIT_SHAPES), list(LIVE_LINK_FACE_ANGLES)
# ICT-FaceKit's 53 names (the order of the model file).
ICT = [
    "browDown_L",
    "browDown_R",
    "browInnerUp_L",
    "browInnerUp_R",
    "browOuterUp_L",
    "browOuterUp_R",
    "cheekPuff_L",
    "cheekPuff_R",
    "cheekSquint_L",
    "cheekSquint_R",
    "eyeBlink_L",
    "eyeBlink_R",
    "eyeLookDown_L",
    "eyeLookDown_R",
    "eyeLookIn_L",
    "eyeLookIn_R",
    "eyeLookOut_L",
    "eyeLookOut_R",
    "eyeLookUp_L",
    "eyeLookUp_R",
    "eyeSquint_L",
    "eyeSquint_R",
    "eyeWide_L",
    "eyeWide_R",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimple_L",
    "mouthDimple_R",
    "mouthFrown_L",
    "mouthFrown_R",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDown_L",
    "mouthLowerDown_R",
    "mouthPress_L",
    "mouthPress_R",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmile_L",
    "mouthSmile_R",
    "mouthStretch_L",
    "mouthStretch_R",
    "mouthUpperUp_L",
    "mouthUpperUp_R",
    "noseSneer_L",
    "noseSneer_R",
]
REST = {
    "rest_rotation": axis_angle_to_matrix(torch.tensor([0.0, 0.2, 0.0])),
    "rest_translation": torch.tensor([0.0, 1.0, 60.0]),
}


def test_every_arkit_shape_but_the_tongue_drives_ict():
    mapping = ict_columns(ARKIT, ICT)
    assert set(mapping) == set(ARKIT) - {"TongueOut"}
    assert sorted(i for targets in mapping.values() for i in targets) == list(range(53))  # each once
    assert [ICT[i] for i in mapping["BrowInnerUp"]] == ["browInnerUp_L", "browInnerUp_R"]
    assert [ICT[i] for i in mapping["EyeBlinkLeft"]] == ["eyeBlink_L"]
    assert [ICT[i] for i in mapping["MouthLeft"]] == ["mouthLeft"]


def _write_live_link_face(path, seconds: float = 1.0, rate: int = 60, start="14:03:52:28"):
    """A take at ``rate``: the jaw opens linearly, the brows' inner parts up, the tongue out, the head
    turned 0.3 rad and the left eye looking up 0.1 rad."""
    hours, minutes, secs, frame = (int(x) for x in start.split(":"))
    lines = [",".join(["Timecode", "BlendShapeCount", *ARKIT, *ANGLES])]
    for k in range(int(seconds * rate) + 1):
        total = frame + k
        s = secs + total // rate
        code = f"{hours:02d}:{minutes + s // 60:02d}:{s % 60:02d}:{total % rate:02d}.{(k * 37) % 1000:03d}"
        values = dict.fromkeys(ARKIT, 0.0) | {
            "JawOpen": k / (seconds * rate),
            "BrowInnerUp": 0.5,
            "TongueOut": 0.3,
        }
        angles = dict.fromkeys(ANGLES, 0.0) | {"HeadYaw": 0.3, "LeftEyePitch": 0.1}
        lines.append(
            ",".join(
                [code, "61", *(f"{values[n]:.6f}" for n in ARKIT), *(f"{angles[n]:.6f}" for n in ANGLES)]
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_live_link_face_take_becomes_a_25_fps_motion(tmp_path):
    path = _write_live_link_face(tmp_path / "take.csv")
    with pytest.warns(UserWarning, match="TongueOut"):
        motion = read_live_link_face(path, ICT, **REST, fps=25.0)
    assert len(motion) == 26 and motion.fps == 25.0  # one second at 25 fps, both ends
    jaw = motion.expression[:, ICT.index("jawOpen")]
    assert torch.allclose(jaw, torch.linspace(0, 1, 26), atol=0.02)  # resampled, not re-timed
    assert torch.all(motion.expression[:, ICT.index("browInnerUp_L")] == 0.5)
    assert torch.all(motion.expression[:, ICT.index("browInnerUp_R")] == 0.5)
    # The head turns 0.3 rad about its vertical axis, from the rest pose; the left eye looks up.
    turn = REST["rest_rotation"].T @ motion.rotation[5]
    assert torch.allclose(turn, axis_angle_to_matrix(torch.tensor([0.0, 0.3, 0.0])), atol=1e-5)
    assert torch.allclose(motion.translation, REST["rest_translation"].expand(26, 3))
    assert torch.allclose(motion.gaze[0], torch.tensor([[0.0, 0.1], [0.0, 0.0]]))


def test_timecodes_give_the_capture_rate():
    at_60 = [f"00:00:00:{f:02d}.000" for f in range(60)] + ["00:00:01:00.000"]
    assert timecode_seconds(at_60)[-1] == pytest.approx(1.0)
    at_30 = [f"00:00:00:{f:02d}.500" for f in range(30)] + ["00:00:01:00.500"]
    assert timecode_seconds(at_30)[15] == pytest.approx(0.5)
    assert timecode_seconds(at_30, capture_fps=60.0)[15] == pytest.approx(0.25)  # told otherwise
    with pytest.raises(InputError, match="timecode"):
        timecode_seconds(["12.5"])


def test_bad_captures_say_what_is_wrong(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("jawOpen\n0.5\n")
    with pytest.raises(InputError, match="Timecode"):
        read_live_link_face(plain, ICT, **REST)
    broken = _write_live_link_face(tmp_path / "broken.csv")
    lines = broken.read_text().splitlines()
    lines[3] = lines[3].replace("0.500000", "half", 1)
    broken.write_text("\n".join(lines))
    with warnings.catch_warnings(), pytest.raises(InputError, match="non-numeric"):
        warnings.simplefilter("ignore")
        read_live_link_face(broken, ICT, **REST)
    backwards = _write_live_link_face(tmp_path / "backwards.csv")
    lines = backwards.read_text().splitlines()
    backwards.write_text("\n".join([lines[0], lines[3], lines[2]]))
    with warnings.catch_warnings(), pytest.raises(InputError, match="increase"):
        warnings.simplefilter("ignore")
        read_live_link_face(backwards, ICT, **REST)


def test_weight_files_in_either_naming(tmp_path):
    table = tmp_path / "weights.csv"
    table.write_text("jawOpen,EyeBlinkLeft,CheekPuff\n0.2,1.0,0.4\n0.7,0.0,1.5\n")
    motion = read_weights(table, ICT, **REST, fps=30.0)
    assert len(motion) == 2 and motion.fps == 30.0
    assert motion.expression[1, ICT.index("jawOpen")] == pytest.approx(0.7)
    assert motion.expression[0, ICT.index("eyeBlink_L")] == 1.0
    assert motion.expression[1, ICT.index("cheekPuff_R")] == 1.0  # clamped, both sides
    assert torch.equal(motion.rotation[1], REST["rest_rotation"]) and torch.all(motion.gaze == 0)
    frames = {"fps": 12, "frames": [{"mouthSmile_L": 0.5}, {"mouthSmile_L": 0.6, "browDown_R": 0.1}]}
    (tmp_path / "weights.json").write_text(json.dumps(frames))
    motion = read_weights(tmp_path / "weights.json", ICT, **REST)
    assert motion.fps == 12.0 and motion.expression[1, ICT.index("browDown_R")] == pytest.approx(0.1)
    assert np.count_nonzero(motion.expression[0].numpy()) == 1
    (tmp_path / "none.json").write_text(json.dumps([{"smile": 1.0}]))
    with pytest.raises(InputError, match="none of its names"):
        read_weights(tmp_path / "none.json", ICT, **REST)
