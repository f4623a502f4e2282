"""What the benchmark scripts share: the shared clips, the environment their child processes run
in, and the ``headsplat`` command run as a user would type it.

The scripts run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path``; a script
loaded another way puts it there first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def print_table_header(header: str) -> None:
    """A Markdown table's first line, ``header`` (its columns joined by " | "), and its rule."""
    print(f"| {header} |\n" + "|---" * (header.count("|") + 1) + "|", flush=True)


def print_table_row(cells: Sequence[str]) -> None:
    """One row of a Markdown table."""
    print("| " + " | ".join(cells) + " |", flush=True)


def clips() -> dict[str, Path]:
    """Every shared video by clip name (its file's stem)."""
    return {path.stem: path for path in sorted(SHARED.glob("*_clips/*.mp4"))}


def headsplat_env() -> dict[str, str]:
    """This process's environment, with the shared ICT model unless one is set."""
    env = {**os.environ}
    env.setdefault("HEADSPLAT_ICT_MODEL", str(SHARED / "ict_facekit" / "ict_facekit_light.npz"))
    return env


def run_headsplat(*args: str, env: dict) -> None:
    """``headsplat ARGS`` in a child process; exits with its stderr's tail when it fails."""
    command = [sys.executable, "-m", "headsplat.cli", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-3000:]}")


def subject_folder(out: Path, clip: str, env: dict, tracking: str) -> Path:
    """``OUT/subjects/CLIP`` (``CLIP-TRACKING`` for another tracker than the landmarks),
    preprocessed from the shared clip unless it is there already."""
    folder = out / "subjects" / (clip if tracking == "landmarks" else f"{clip}-{tracking}")
    if not (folder / "meta.json").is_file():
        run_headsplat(
            "preprocess",
            str(clips()[clip]),
            "-o",
            str(folder),
            "--overwrite",
            "--tracking",
            tracking,
            env=env,
        )
    return folder


def run_folder(out: Path, clip: str, strategy: str, preset: str, tracking: str) -> Path:
    """``OUT/runs/CLIP-STRATEGY-PRESET`` (``-TRACKING`` appended for another tracker than the
    landmarks): where :mod:`quality` trains an avatar."""
    suffix = "" if tracking == "landmarks" else f"-{tracking}"
    return out / "runs" / f"{clip}-{strategy}-{preset}{suffix}"


def recorded(results: Path, name: str) -> dict | None:
    """The metrics recorded as ``results/NAME.json``, or None."""
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def provenance() -> dict[str, str]:
    """The code and the machine a measurement came from: the commit (``+dirty`` when the work
    tree differs from it), the processor, its cores and torch's version."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no", "src"):
        commit += "+dirty"
    import torch

    processor = _cpu_model() or platform.machine()
    return {"commit": commit, "machine": f"{processor}, {os.cpu_count()} cores, torch {torch.__version__}"}


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def record(results: Path, name: str, metrics: dict) -> dict:
    """Record ``metrics`` (without per-frame lists) and their :func:`provenance` as
    ``results/NAME.json``, whole or not at all: the machines keep no files between sessions, so
    long benchmarks are committed run by run. Returns what it recorded."""
    results.mkdir(parents=True, exist_ok=True)
    summary = {key: value for key, value in metrics.items() if key != "per_frame"} | provenance()
    path = results / f"{name}.json"
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    partial.replace(path)
    return summary


def add_record_options(parser: argparse.ArgumentParser, results: Path) -> None:
    """``--results`` (default ``results``), ``--rerun`` and ``--table``: the options of a
    benchmark that records each run (:func:`recorded_or_run`)."""
    parser.add_argument("--results", type=Path, default=results, help=f"recorded runs (default {results})")
    parser.add_argument("--rerun", action="store_true", help="run recorded runs again")
    parser.add_argument("--table", action="store_true", help="only print the recorded runs' table")


def recorded_or_run(args: argparse.Namespace, name: str, run: Callable[[], dict]) -> dict | None:
    """Run ``name``'s metrics as recorded in ``args.results`` (unless ``args.rerun``); else,
    unless ``args.table``, ``run()``'s, recorded (:func:`record`); None: not recorded, not run."""
    metrics = None if args.rerun else recorded(args.results, name)
    if metrics is None and not args.table:
        # As recorded, so that a table printed right after a run has its provenance too.
        metrics = record(args.results, name, run())
    return metrics


def refined_and_tracked(scores: list[dict], key: str, digits: int) -> str:
    """ "refined / tracked": the mean of ``key`` over ``scores`` (each an eval's metrics, or a group
    of them, with its ``tracked`` twin), half the seeds' range beside a refined PSNR."""
    refined = [score[key] for score in scores]
    text = f"{sum(refined) / len(refined):.{digits}f}"
    if len(scores) > 1 and key == "psnr":
        text += f" ±{(max(refined) - min(refined)) / 2:.{digits}f}"
    tracked = [score["tracked"][key] for score in scores]
    return f"{text} / {sum(tracked) / len(tracked):.{digits}f}"
