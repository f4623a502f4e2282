"""Preprocess the shared clips and print one table: landmark error, dropped frames, time per stage.

    python benchmarks/preprocess.py                       # all 12 clips in ../shared/data
    python benchmarks/preprocess.py --clips d3 d12 --out /tmp/subjects --json preprocess.json
    python benchmarks/preprocess.py --clips d18 --tracking landmarks   # the landmark fit alone

Each clip runs in its own process (``headsplat preprocess``), so the timings include everything
a user waits for except Python start-up. Needs ../shared (videos and the ICT model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, clips, headsplat_env
from headsplat.track import DEFAULT_TRACKER, TRACKERS

STAGES = (
    "decode",
    "head_model",
    "detect",
    "crop",
    "landmarks",
    "tracking",
    "photometric_tracking",
    "masks",
    "write_frames",
    "overlay",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", help="clip names (default: all)")
    parser.add_argument(
        "--out", type=Path, help="where to keep the subject folders (default: a temporary folder)"
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tracking", default=DEFAULT_TRACKER, choices=TRACKERS, help="default: %(default)s")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    available = clips()
    if not available:
        sys.exit(f"no clips found under {SHARED}")
    names = args.clips or sorted(available, key=lambda n: (len(n), n))
    env = headsplat_env()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        for name in names:
            subject = out / name
            command = [
                sys.executable,
                "-m",
                "headsplat.cli",
                "preprocess",
                str(available[name]),
                "-o",
                str(subject),
                "--size",
                str(args.size),
                "--overwrite",
                "--tracking",
                args.tracking,
            ]
            result = subprocess.run(command, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                print(f"{name}: failed ({result.returncode})\n{result.stderr[-2000:]}", file=sys.stderr)
                continue
            report = json.loads((subject / "qa" / "report.json").read_text())
            rows.append(
                {
                    "clip": name,
                    **report,
                    "landmark_error_px": {
                        k: v for k, v in report["landmark_error_px"].items() if k != "per_frame"
                    },
                }
            )
            print_row(rows[-1], header=len(rows) == 1)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


def print_row(row: dict, header: bool) -> None:
    if header:
        print(
            f"| {'clip':<30} | frames | no face | mean px | worst frame px | s/100 frames | "
            + " | ".join(STAGES)
            + " |",
            flush=True,
        )
        print("|" + "---|" * (6 + len(STAGES)), flush=True)
    seconds = row["seconds"]
    print(
        f"| {row['clip']:<30} | {row['frames_kept']:6d} | {len(row['frames_without_face']):7d} | "
        f"{row['landmark_error_px']['mean']:7.2f} | {row['landmark_error_px']['max_frame']:14.2f} | "
        f"{row['seconds_per_100_frames']:12.1f} | "
        + " | ".join(f"{seconds.get(s, 0):.1f}" for s in STAGES)
        + " |",
        flush=True,
    )


if __name__ == "__main__":
    main()
