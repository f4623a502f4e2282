"""``headsplat fit VIDEO -o OUT``: the whole chain in one command.

OUT is a run folder like any other (:mod:`headsplat.io.run`) with the subject folder inside it
(``OUT/subject``), so ``eval``, ``render`` and ``export`` work on it, and it can be moved as a
whole. Stages: preprocess -> train -> eval -> orbit -> .ply. With ``--resume`` a stage whose
output is complete (and newer than the avatar it depends on) is skipped, and training continues
from its last checkpoint.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from headsplat.apps.export.ply import export_avatar_ply
from headsplat.apps.orbit import render_orbit
from headsplat.avatar.avatar import load_avatar
from headsplat.evaluation.evaluate import evaluate_run
from headsplat.head import load_head_model
from headsplat.io.atomic import missing_folders, remove_empty
from headsplat.io.run import RunFolder
from headsplat.io.settings import to_dict
from headsplat.io.subject import load_subject
from headsplat.preprocess.landmarks import detect_single_image
from headsplat.preprocess.pipeline import PreprocessConfig, preprocess
from headsplat.training.config import RunConfig
from headsplat.training.run import train_run

SUBJECT = "subject"
STAGES = ("preprocess", "train", "eval", "orbit", "ply")


def _log(message: str) -> None:
    print(f"[headsplat fit] {message}", file=sys.stderr, flush=True)


def _fresh(path: Path, than: Path) -> bool:
    """``path`` exists and was written after ``than``."""
    return path.is_file() and than.is_file() and path.stat().st_mtime >= than.stat().st_mtime


def fit(
    video: str | Path,
    out: str | Path,
    config: RunConfig,
    *,
    preprocess_config: PreprocessConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    settings_given: bool = False,
    model_path: str | Path | None = None,
    log: Callable[[str], None] = _log,
) -> dict | None:
    """Run every stage into ``out``; returns the held-out metrics (None: the subject holds none out).

    Raises:
        InputError: the folder clashes (:meth:`RunFolder.prepare`), or a stage's own errors.
    """
    folder = RunFolder(out)
    new_folders = missing_folders(folder.path)
    continuing = folder.prepare(resume=resume, overwrite=overwrite, settings_given=settings_given)
    subject = folder.path / SUBJECT
    if not continuing:
        # Written first, so that a run killed in preprocessing is a run folder --resume continues.
        folder.write_config(subject, None, to_dict(config))
    for leftover in folder.path.glob(f".{SUBJECT}.partial-*"):  # a preprocessing killed earlier
        shutil.rmtree(leftover, ignore_errors=True)

    def stage(index: int, message: str) -> None:
        log(f"[{index}/{len(STAGES)}] {message}")

    model = None
    if (subject / "meta.json").is_file():
        stage(1, f"preprocess: {subject} is there, skipped")
    else:
        stage(1, f"preprocess {video} -> {subject}")
        try:
            model = load_head_model(model_path, detect_single_image)
            preprocess(video, subject, preprocess_config or PreprocessConfig(), model=model)
        except BaseException:
            if not continuing:  # a run of nothing yet: leave nothing, so the fixed command just runs
                folder.config_path.unlink(missing_ok=True)
                remove_empty(new_folders)
            raise
    avatar_path = folder.avatar_path
    if avatar_path.is_file():
        stage(2, f"train: {avatar_path} is there, skipped")
    else:
        stage(2, f"train -> {folder.path}")
        model = model or load_head_model(model_path)
        train_run(subject, folder.path, config, resume=True, model=model)
    metrics_path = folder.path / "eval" / "metrics.json"
    held_out = len(load_subject(subject).split()[1])
    if not held_out:
        stage(3, "eval: skipped, the subject has no held-out frames (photos, or --no-test-split)")
        metrics = None
    elif _fresh(metrics_path, avatar_path):
        stage(3, "eval: done before, skipped")
        metrics = json.loads(metrics_path.read_text())
    else:
        stage(3, "eval on the held-out frames")
        metrics = evaluate_run(folder.path, progress=True)
    avatar = None
    orbit_path, ply_path = folder.path / "orbit.mp4", folder.path / "avatar.ply"
    if _fresh(orbit_path, avatar_path):
        stage(4, "orbit: done before, skipped")
    else:
        stage(4, f"orbit -> {orbit_path}")
        avatar = load_avatar(folder.path)
        render_orbit(avatar, orbit_path)
    if _fresh(ply_path, avatar_path):
        stage(5, ".ply: done before, skipped")
    else:
        stage(5, f".ply -> {ply_path}")
        export_avatar_ply(avatar or load_avatar(folder.path), ply_path)
    if metrics is None:
        log(f"done: no held-out frames to score; {folder.path}")
        return None
    tracked = metrics["tracked"]
    log(
        f"done: held-out PSNR {metrics['psnr']:.2f} dB ({metrics['protocol']}), {tracked['psnr']:.2f} dB "
        f"tracked; {folder.path}"
    )
    return metrics
