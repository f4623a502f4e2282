"""The photometric tracker's schedule against what the user gets: its cost and the avatar's
held-out PSNR, one clip, several schedules.

    python benchmarks/tracking_schedule.py --clip d18 --out /tmp/schedule
    python benchmarks/tracking_schedule.py --clip d18 --table   # the recorded rows only

Each schedule (:data:`SCHEDULES`: steps per frame, per-frame rounds, global-pass steps, the
light's degree) tracks the
clip (``preprocess --tracking photometric`` with those settings), then an avatar trains on it with
the CPU preset (256 px, 2000 steps, sampling) and ``headsplat eval`` scores its test frames from
the tracking (photo-tracked) and refined. The stage's seconds per 100 frames come from the
subject's ``qa/report.json`` (this machine's cores; run nothing else beside it). Records
``benchmarks/results/tracking_schedule/CLIP-SCHEDULE.json`` per schedule as it finishes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from common import (
    clips,
    headsplat_env,
    print_table_header,
    print_table_row,
    record,
    recorded,
    run_headsplat,
)
from headsplat.preprocess.pipeline import PreprocessConfig, preprocess
from headsplat.track.photometric import PhotometricConfig

RESULTS = Path(__file__).resolve().parent / "results" / "tracking_schedule"
SCHEDULES = {
    "10x2": {"frame_steps": 10, "lighting_degree": 0},
    "20x2": {"lighting_degree": 0},  # the default
    "20x2+g10": {"global_steps": 10, "lighting_degree": 0},
    "10x1+g10": {"frame_steps": 10, "rounds": 1, "global_steps": 10, "lighting_degree": 0},
    "20x2+light1": {"lighting_degree": 1},
    "20x2+light2": {"lighting_degree": 2},
    "40x2+light1": {"frame_steps": 40, "lighting_degree": 1},
}
"""Each schedule's photometric settings, all of them explicit (a changed default does not change
what a recorded row's name means)."""


def measure(clip: str, schedule: str, out: Path, env: dict) -> dict:
    """Track ``clip`` with ``schedule``, train, evaluate; the row to record."""
    subject = out / "subjects" / f"{clip}-{schedule}"
    run = out / "runs" / f"{clip}-{schedule}"
    photometric = replace(PhotometricConfig(), **SCHEDULES[schedule])
    config = PreprocessConfig(tracking="photometric", photometric=photometric)
    preprocess(clips()[clip], subject, config, overwrite=True, model_path=env["HEADSPLAT_ICT_MODEL"])
    run_headsplat("train", str(subject), "-o", str(run), "--preset", "cpu", "--overwrite", env=env)
    run_headsplat("eval", str(run), "--no-video", env=env)
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    report = json.loads((subject / "qa" / "report.json").read_text())
    frames = report["frames_kept"]
    return {
        "clip": clip,
        "schedule": schedule,
        "photometric": SCHEDULES[schedule],
        "frames": frames,
        "stage_seconds_per_100_frames": 100 * report["seconds"]["photometric_tracking"] / frames,
        "preprocess_seconds_per_100_frames": report["seconds_per_100_frames"],
        "refined": {name: metrics[name] for name in ("psnr", "ssim", "lpips")},
        "tracked": {name: metrics["tracked"][name] for name in ("psnr", "ssim", "lpips")},
        "outline_tracked_psnr": metrics["tracked"]["outline_psnr"],
        "train_psnr": metrics["train_psnr"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="d18")
    parser.add_argument("--schedules", nargs="*", default=list(SCHEDULES), choices=list(SCHEDULES))
    parser.add_argument("--out", type=Path, default=Path("schedule"), help="subjects and runs go here")
    parser.add_argument("--table", action="store_true", help="print the recorded rows, run nothing")
    args = parser.parse_args()
    env = headsplat_env()
    if not args.table:
        for schedule in args.schedules:
            if recorded(RESULTS, f"{args.clip}-{schedule}") is None:
                record(RESULTS, f"{args.clip}-{schedule}", measure(args.clip, schedule, args.out, env))
    rows = [recorded(RESULTS, f"{args.clip}-{schedule}") for schedule in args.schedules]
    if not any(rows):
        sys.exit(f"nothing recorded for {args.clip} in {RESULTS}")
    header = "schedule (steps x rounds + global, light) | stage s / 100 frames | photo-tracked PSNR"
    header += " | SSIM | LPIPS"
    print_table_header(header + " | outline (tracked) | refined PSNR | train PSNR")
    for row in filter(None, rows):
        tracked, refined = row["tracked"], row["refined"]
        print_table_row(
            [
                row["schedule"],
                f"{row['stage_seconds_per_100_frames']:.0f}",
                f"{tracked['psnr']:.2f}",
                f"{tracked['ssim']:.4f}",
                f"{tracked['lpips']:.4f}",
                f"{row['outline_tracked_psnr']:.2f}",
                f"{refined['psnr']:.2f}",
                f"{row['train_psnr']:.2f}",
            ]
        )


if __name__ == "__main__":
    main()
