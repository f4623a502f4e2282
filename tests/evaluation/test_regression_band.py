"""The held-out PSNR of the synthetic speaking subject stays in its recorded band: a change that
makes avatars worse (or better) shows here, where a range check passes anything short of broken."""

import json
from pathlib import Path

from headsplat.cli import main

BAND = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "regression_band.json"
"""Recorded by ``python benchmarks/regression_band.py`` (the band's rule is its docstring)."""


def test_held_out_psnr_stays_in_the_recorded_band(speaking_run, capsys):
    run, _ = speaking_run
    assert main(["eval", str(run), "--no-video"]) == 0
    assert "PSNR" in capsys.readouterr().out
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    recorded = json.loads(BAND.read_text())
    measured = {"psnr": metrics["psnr"], "tracked_psnr": metrics["tracked"]["psnr"]}
    for name, value in measured.items():
        low, high = recorded["band"][name]
        assert high - low < 1.0, f"the {name} band is too wide to catch a 1 dB fall: {low:.2f}..{high:.2f}"
        assert low <= value <= high, (
            f"held-out {name} {value:.3f} dB left its band {low:.3f}..{high:.3f} (seed 0 was "
            f"{recorded['seeds']['0'][name]:.3f}). If the change means to move it, rerun "
            "`python benchmarks/regression_band.py` and commit its result file."
        )
    assert metrics["protocol"].startswith("refined") and metrics["test_frames"] == 3
