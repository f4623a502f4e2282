"""The novel-view protocol: ``headsplat split --novel-view`` then ``eval`` scores the turned and
the frontal test frames apart, and the turned ones per bin of yaw."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from headsplat.cli import main
from headsplat.evaluation.error_budget import PARTS, ErrorBudget
from headsplat.evaluation.novel_view import novel_view_scores


def test_scores_are_grouped_by_turned_frontal_and_yaw_bin():
    record = {
        "limit": 3.0,
        "gap": 10.0,
        "turned": [0, 1, 7],
        "frontal": [5],
        "yaw": [-25, -14, 0, 0, 0, 1, 0, 22],
    }
    frames = [0, 1, 5, 7]
    refined = {
        "psnr": [20.0, 22.0, 30.0, 24.0],
        "ssim": [0.5, 0.6, 0.9, 0.7],
        "lpips": [0.3, 0.2, 0.1, 0.2],
        "outline_psnr": [15.0, float("nan"), 20.0, 17.0],
    }
    tracked = {name: [value - 1 for value in values] for name, values in refined.items()}
    budgets = [_budget_of_one_pixel(error) for error in (0.1, 0.2, 0.3, 0.4)]
    scores = novel_view_scores(record, frames, (refined, budgets), (tracked, budgets[::-1]))
    assert scores["turned"]["frames"] == 3 and scores["turned"]["psnr"] == pytest.approx(22.0)
    assert scores["turned"]["tracked"]["psnr"] == pytest.approx(21.0)
    assert scores["turned"]["outline_psnr"] == pytest.approx(16.0)  # the frame without one left out
    assert scores["frontal"]["frames"] == 1 and scores["frontal"]["psnr"] == 30.0
    expected = {"psnr": 29.0, "ssim": -0.1, "lpips": -0.9, "outline_psnr": 19.0}
    assert {name: scores["frontal"]["tracked"][name] for name in expected} == pytest.approx(expected)
    assert [(b["yaw"], b["frames"], b["psnr"]) for b in scores["bins"]] == [
        ("-30..-20", 1, 20.0),
        ("-20..-10", 1, 22.0),
        ("+20..+30", 1, 24.0),
    ]
    assert scores["limit"] == 3.0 and scores["gap"] == 10.0
    # The budget pools the group's own frames: 0, 1 and 7 (errors 0.1, 0.2, 0.4; reversed tracked).
    assert scores["turned"]["error_budget"]["psnr"] == pytest.approx(-10 * math.log10(0.7 / 3))
    assert scores["turned"]["tracked"]["error_budget"]["psnr"] == pytest.approx(-10 * math.log10(0.8 / 3))
    assert scores["frontal"]["error_budget"]["mouth"]["psnr"] == pytest.approx(-10 * math.log10(0.3))
    # A group none of the scored frames fall in has no score, not a wrong one.
    frontal = novel_view_scores(record, [0, 1], (refined, budgets), (tracked, budgets))["frontal"]
    assert math.isnan(frontal["psnr"]) and frontal["error_budget"] is None


def _budget_of_one_pixel(error: float) -> ErrorBudget:
    """A frame of one mouth pixel with squared error ``error``."""
    budget = ErrorBudget()
    budget.add(np.full((1, 1), error), {name: np.full((1, 1), name == "mouth") for name in PARTS})
    return budget


def test_eval_on_a_novel_view_split_scores_the_turned_frames(trained_run, tmp_path, capsys):
    """The synthetic head turns from -20 to +20 degrees over 10 frames."""
    run, subject = trained_run
    split = tmp_path / "novel"
    assert (
        main(["split", str(subject), "-o", str(split), "--novel-view", "--yaw-limit", "5", "--gap", "5"]) == 0
    )
    assert "2 training frames within ±5.0 degrees" in capsys.readouterr().out
    meta = json.loads((split / "meta.json").read_text())
    assert meta["split"]["train"] == [4, 5] and meta["split"]["novel_view"]["turned"] == [0, 1, 2, 7, 8, 9]
    assert main(["eval", str(run), "--subject", str(split), "--refine-steps", "0", "--no-video"]) == 0
    printed = capsys.readouterr().out
    assert "novel view, turned (6 frames)" in printed and "yaw +10..+20" in printed
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    novel = metrics["novel_view"]
    per_frame = dict(zip(metrics["per_frame"]["frame"], metrics["per_frame"]["psnr"], strict=True))
    assert novel["turned"]["frames"] == 6 and novel["frontal"]["frames"] == 0
    assert novel["turned"]["psnr"] == pytest.approx(np.mean([per_frame[f] for f in (0, 1, 2, 7, 8, 9)]))
    # Yaw -20, -15.6, -11.1 | 11.1, 15.6 | 20.
    assert [(b["yaw"], b["frames"]) for b in novel["bins"]] == [
        ("-20..-10", 3),
        ("+10..+20", 2),
        ("+20..+30", 1),
    ]
    # The usual split has no novel-view scores.
    assert main(["eval", str(run), "--refine-steps", "0", "--no-video"]) == 0
    assert "novel_view" not in json.loads((run / "eval" / "metrics.json").read_text())


def test_split_refuses_a_head_that_turns_too_little_for_its_gap(trained_run, tmp_path, capsys):
    _, subject = trained_run
    assert main(["split", str(subject), "-o", str(tmp_path / "novel"), "--novel-view", "--gap", "25"]) == 2
    assert "turns too little" in capsys.readouterr().err and not (tmp_path / "novel").exists()
