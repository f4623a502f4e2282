"""Memory against clip length: each command's peak resident memory on d18 and on a longer clip.

    python benchmarks/memory.py --out /tmp/memory [--loops 3] [--tracking landmarks photometric]
    python benchmarks/memory.py --table   # the recorded rows, run nothing

The longer clip is d18 played forwards, backwards, forwards, ... (``--loops`` times every frame
of its video, written once at 25 fps as ``OUT/d18xLOOPS.mp4``; d18's 216 frames at 30 fps give
180 at preprocess's 25 fps cap, the looped clip keeps all of them: 648 at ``--loops 3``), so the
two clips differ in length alone. For each clip and tracker, ``preprocess`` runs and then
``train --preset cpu --steps STEPS`` on its subject, each alone in a child process as a user runs
it; a row is its peak resident set (``wait4``'s ``ru_maxrss`` of that child), its wall time and
its frames. What should not grow with the clip does not show a growing peak; what does grow
(the photometric tracker keeps every frame at its working size) shows by how much. The rows are
recorded in ``--results`` (:data:`RESULTS`, committed) as ``COMMAND-CLIP-TRACKING.json`` with the
commit and the machine, and the table is printed from the records.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import clips, headsplat_env, print_table_header, print_table_row, record, recorded
from headsplat.io.video import Mp4Writer, iter_mp4
from headsplat.track import TRACKERS

RESULTS = Path(__file__).resolve().parent / "results" / "memory"
"""Where each command's row is recorded, ``COMMAND-CLIP-TRACKING.json``."""

SOURCE = "d18"


def looped_clip(out: Path, loops: int) -> Path:
    """``OUT/d18xLOOPS.mp4``: d18 forwards, backwards, forwards, ... ``loops`` times (made once)."""
    path = out / f"{SOURCE}x{loops}.mp4"
    if path.is_file():
        return path
    source = clips()[SOURCE]
    frames = list(iter_mp4(source))
    out.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.mp4")
    with Mp4Writer(partial, fps=25.0, crf=18) as writer:
        for loop in range(loops):
            for image in frames if loop % 2 == 0 else frames[::-1]:
                writer.add(image)
    partial.replace(path)
    return path


def measured(args: list[str], env: dict) -> tuple[float, float]:
    """(peak resident GB, wall seconds) of ``headsplat ARGS`` in a child process; exits with its
    stderr's tail when it fails."""
    command = [sys.executable, "-m", "headsplat.cli", *args]
    started = time.perf_counter()
    stdout, stderr = subprocess.DEVNULL, subprocess.PIPE
    with subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr, text=True) as child:
        errors = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{errors[-3000:]}")
    return usage.ru_maxrss / 1024**2, seconds  # ru_maxrss is in KB on Linux


def frame_count(subject: Path) -> int:
    return len(list((subject / "frames").glob("*.png")))


def measure(out: Path, clip: Path, tracking: str, steps: int, results: Path) -> None:
    """Preprocess ``clip`` with ``tracking``, train on it, and record both rows."""
    env = headsplat_env()
    subject = out / "subjects" / f"{clip.stem}-{tracking}"
    gb, seconds = measured(
        ["preprocess", str(clip), "-o", str(subject), "--overwrite", "--tracking", tracking], env
    )
    frames = frame_count(subject)
    row = {"command": "preprocess", "clip": clip.stem, "tracking": tracking, "frames": frames}
    record(results, f"preprocess-{clip.stem}-{tracking}", row | {"peak_gb": gb, "seconds": seconds})
    run = out / "runs" / f"{clip.stem}-{tracking}"
    train = ["train", str(subject), "-o", str(run), "--overwrite", "--preset", "cpu", "--steps", str(steps)]
    gb, seconds = measured(train, env)
    row = {"command": f"train --steps {steps}", "clip": clip.stem, "tracking": tracking, "frames": frames}
    record(results, f"train-{clip.stem}-{tracking}", row | {"peak_gb": gb, "seconds": seconds})


def print_table(results: Path) -> None:
    rows = [recorded(results, path.stem) for path in sorted(results.glob("*.json"))]
    if not rows:
        sys.exit(f"no rows recorded in {results}: run the benchmark first")
    rows.sort(key=lambda row: (row["tracking"], row["command"], row["frames"]))
    print_table_header("command | tracking | clip | frames | peak GB | seconds | commit")
    for row in rows:
        cells = [row["command"], row["tracking"], row["clip"], f"{row['frames']:,}"]
        print_table_row([*cells, f"{row['peak_gb']:.2f}", f"{row['seconds']:.0f}", row["commit"]])
    machines = sorted({row["machine"] for row in rows})
    print(f"\nMachine: {'; '.join(machines)}. Each command alone, in its own process.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where the looped clip, subjects and runs go")
    parser.add_argument("--loops", type=int, default=3, help="the longer clip: d18 this many times")
    parser.add_argument("--tracking", nargs="+", choices=sorted(TRACKERS), default=["landmarks"])
    parser.add_argument("--steps", type=int, default=150, help="training steps per run")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the rows are recorded")
    parser.add_argument("--table", action="store_true", help="print the recorded rows, run nothing")
    args = parser.parse_args(argv)
    if not args.table:
        if args.out is None:
            parser.error("--out is required unless --table")
        for clip in (clips()[SOURCE], looped_clip(args.out, args.loops)):
            for tracking in args.tracking:
                measure(args.out, clip, tracking, args.steps, args.results)
    print_table(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
