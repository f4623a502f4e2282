"""A run folder written before strategies and completions became registered slots resumes."""

import json
import shutil
from pathlib import Path

from headsplat.cli import main

DATA = Path(__file__).parent.parent / "data"


def test_a_run_recorded_with_a_flat_strategy_resumes_and_is_recorded_anew(trained_run, tmp_path):
    """The trained run's ``config.json`` replaced by the one the code before wrote for the same
    options (``config_flat_trained_run.json``: ``strategy`` and ``completion`` flat, with a
    ``name``): ``--resume`` continues it, with no settings given, and records the slots."""
    run, subject = trained_run
    old = tmp_path / "old"
    shutil.copytree(run, old, ignore=shutil.ignore_patterns("eval", "*.mp4", "*.ply"))
    recorded = json.loads((old / "config.json").read_text())
    flat = json.loads((DATA / "config_flat_trained_run.json").read_text())
    assert flat["strategy"]["name"] == "sampling" and flat["completion"]["name"] == "harmonic"
    (old / "config.json").write_text(json.dumps({**recorded, "config": flat}))
    assert main(["train", str(subject), "-o", str(old), "--resume", "--steps", "10"]) == 0
    upgraded = json.loads((old / "config.json").read_text())["config"]
    assert upgraded["steps"] == 10
    assert upgraded["strategy"] == recorded["config"]["strategy"]  # as the new code records it
    assert list(upgraded["completion"]) == ["harmonic"]
    assert json.loads((old / "checkpoints" / "step_0000010.json").read_text())["step"] == 10
