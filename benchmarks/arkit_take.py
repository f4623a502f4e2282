"""A synthetic Live Link Face take, for trying ``headsplat reenact --arkit`` without an iPhone.

    python benchmarks/arkit_take.py take.csv            # 4 s at 60 fps
    headsplat reenact RUN --arkit take.csv -o take.mp4

The take (docs/reenact.md's ARKit stills): the jaw talking at 2 Hz for 2 s, blinks at 1.0 and 3.2 s, a
smile from 2 s, the brows' inner parts up around 2.6 s, the head swaying 0.25 rad (yaw, 0.25 Hz)
and nodding 0.08 rad (pitch, 0.5 Hz), both eyes sweeping 0.3 rad left and right. Columns and
timecodes as Live Link Face writes them (:mod:`headsplat.drive.arkit`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from headsplat.drive.arkit import ARKIT_SHAPES, LIVE_LINK_FACE_ANGLES
from headsplat.io.atomic import atomic_write


def take_rows(seconds: float, rate: int) -> list[str]:
    """The CSV's lines: a header and one row per captured frame."""
    lines = [",".join(["Timecode", "BlendShapeCount", *ARKIT_SHAPES, *LIVE_LINK_FACE_ANGLES])]
    for k in range(int(seconds * rate)):
        t = k / rate
        shapes = dict.fromkeys(ARKIT_SHAPES, 0.0)
        shapes["JawOpen"] = max(0.0, 0.45 * np.sin(2 * np.pi * 2.0 * t)) if t < 2.0 else 0.0
        blink = min(1.0, max(0.0, 1 - abs(t - 1.0) / 0.08) + max(0.0, 1 - abs(t - 3.2) / 0.08))
        shapes["EyeBlinkLeft"] = shapes["EyeBlinkRight"] = blink
        smile = 0.8 * np.clip((t - 2.0) / 0.4, 0, 1) * np.clip((seconds - t) / 0.4, 0, 1)
        shapes["MouthSmileLeft"] = shapes["MouthSmileRight"] = smile
        shapes["BrowInnerUp"] = 0.6 * np.clip(1 - abs(t - 2.6) / 0.5, 0, 1)
        angles = dict.fromkeys(LIVE_LINK_FACE_ANGLES, 0.0)
        angles["HeadYaw"] = 0.25 * np.sin(2 * np.pi * 0.25 * t)
        angles["HeadPitch"] = 0.08 * np.sin(2 * np.pi * 0.5 * t)
        angles["LeftEyeYaw"] = angles["RightEyeYaw"] = 0.3 * np.sin(2 * np.pi * 0.5 * t)
        code = f"00:{int(t) // 60:02d}:{int(t) % 60:02d}:{k % rate:02d}.000"
        values = [f"{shapes[n]:.5f}" for n in ARKIT_SHAPES] + [
            f"{angles[n]:.5f}" for n in LIVE_LINK_FACE_ANGLES
        ]
        lines.append(",".join([code, str(len(ARKIT_SHAPES) + len(LIVE_LINK_FACE_ANGLES)), *values]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the CSV to write")
    parser.add_argument("--seconds", type=float, default=4.0, help="length (default 4)")
    parser.add_argument("--rate", type=int, default=60, help="capture frame rate (default 60, as the app)")
    args = parser.parse_args()
    lines = take_rows(args.seconds, args.rate)
    atomic_write(args.output, lambda p: p.write_text("\n".join(lines) + "\n"))
    print(f"{args.output}: {len(lines) - 1} frames at {args.rate} fps")


if __name__ == "__main__":
    main()
