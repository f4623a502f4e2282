"""Preprocess the shared clips and print one table: landmark error, dropped frames, time per stage.

    python benchmarks/preprocess.py                       # all 12 clips in ../shared/data
    python benchmarks/preprocess.py --clips d3 d12 --out /tmp/subjects
    python benchmarks/preprocess.py --tracking landmarks  # the landmark fit alone
    python benchmarks/preprocess.py --table               # the recorded rows, run nothing

Each clip runs in its own process (``headsplat preprocess``), so the timings include everything
a user waits for except Python start-up (run nothing else beside it). Each clip's row is recorded
in ``--results`` (:data:`RESULTS`, committed) as ``CLIP-TRACKING.json`` with the commit and the
machine, and the table is printed from the records. Needs ../shared (videos and the ICT model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, clips, headsplat_env, print_table_header, print_table_row, record, recorded
from headsplat.track import DEFAULT_TRACKER, TRACKERS

RESULTS = Path(__file__).resolve().parent / "results" / "preprocess"
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
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"recorded rows (default {RESULTS})")
    parser.add_argument("--table", action="store_true", help="print the recorded rows, run nothing")
    args = parser.parse_args()
    available = clips()
    if not available and not args.table:
        sys.exit(f"no clips found under {SHARED}")
    names = args.clips or sorted(available, key=lambda n: (len(n), n))
    if not args.table:
        with tempfile.TemporaryDirectory() as scratch:
            for name in names:
                row = measure(name, available[name], args.out or Path(scratch), args.size, args.tracking)
                if row is not None:
                    record(args.results, f"{name}-{args.tracking}", row)
    rows = [row for name in names if (row := recorded(args.results, f"{name}-{args.tracking}"))]
    if not rows:
        sys.exit(f"nothing recorded in {args.results} for these clips with --tracking {args.tracking}")
    print_table(rows)


def measure(name: str, video: Path, out: Path, size: int, tracking: str) -> dict | None:
    """``headsplat preprocess`` of one clip into ``out/NAME``; its QA report as a row (None, and
    the error printed, when it fails)."""
    subject = out / name
    command = [sys.executable, "-m", "headsplat.cli", "preprocess", str(video), "-o", str(subject),
               "--size", str(size), "--overwrite", "--tracking", tracking]  # fmt: skip
    result = subprocess.run(command, env=headsplat_env(), capture_output=True, text=True)
    if result.returncode != 0:
        print(f"{name}: failed ({result.returncode})\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    report = json.loads((subject / "qa" / "report.json").read_text())
    errors = {k: v for k, v in report["landmark_error_px"].items() if k != "per_frame"}
    return {"clip": name, "tracking": tracking, "size": size, **report, "landmark_error_px": errors}


def print_table(rows: list[dict]) -> None:
    """The recorded rows: frames, landmark error, seconds per 100 frames and per stage."""
    header = "clip | tracking | frames | no face | mean px | worst frame px | s / 100 frames | "
    print_table_header(header + " | ".join(STAGES))
    for row in rows:
        seconds = row["seconds"]
        cells = [
            row["clip"],
            row.get("tracking", "-"),
            str(row["frames_kept"]),
            str(len(row["frames_without_face"])),
        ]
        cells += [f"{row['landmark_error_px']['mean']:.2f}", f"{row['landmark_error_px']['max_frame']:.2f}"]
        cells += [f"{row['seconds_per_100_frames']:.1f}", *(f"{seconds.get(s, 0):.1f}" for s in STAGES)]
        print_table_row(cells)
    for machine in sorted({f"{row['machine']}; commit {row['commit']}" for row in rows}):
        print(f"\nmachine: {machine}", flush=True)


if __name__ == "__main__":
    main()
