"""``headsplat train``: train an avatar into a run folder (:mod:`headsplat.io.run`), resumably."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from headsplat.avatar.avatar import Avatar, avatar_from_parts, create_avatar
from headsplat.head import HeadModel, load_head_model
from headsplat.io.errors import InputError
from headsplat.io.job import ResumableJob
from headsplat.io.settings import to_dict
from headsplat.io.subject import Subject, load_subject
from headsplat.training.config import RunConfig, run_config_from_dict
from headsplat.training.data import FrameData, load_frame_data
from headsplat.training.geometry import fit_surface
from headsplat.training.trainer import Trainer, check_device


def new_avatar(
    model: HeadModel, subject: Subject, config: RunConfig, *, data: FrameData | None = None, log=None
) -> Avatar:
    """An untrained avatar of ``subject`` as ``config`` sets it up; with ``data`` (the subject's
    frames) and ``config.geometry.steps``, on the surface the geometry stage fits to the training
    masks (:mod:`headsplat.training.geometry`), its report in ``avatar.info["training"]``."""
    train, _ = subject.split()
    tracking = {
        k: torch.as_tensor(subject.tracking[k][train]) for k in ("rotation", "translation", "expression")
    }
    info = {"size": config.size, "fps": subject.meta.get("fps", 25.0), "background": config.background}

    def create(surface: torch.Tensor | None = None) -> Avatar:
        return create_avatar(
            model,
            subject.tracking["identity"],
            **tracking,
            config=config.avatar,
            K=subject.intrinsics(config.size),
            info=info,
            device=config.device,
            surface=surface,
        )

    avatar = create()
    if data is None or config.geometry.steps == 0:
        return avatar
    frames = data.with_torso(avatar.rest_pose()).to(avatar.device)
    surface, report = fit_surface(avatar, frames, train, config.geometry)
    if log is not None:
        log(
            f"geometry: silhouette IoU {report.iou_before:.3f} -> {report.iou_after:.3f}, surface out "
            f"{report.max_out:.1f} cm / in {report.max_in:.1f} cm, {report.seconds:.0f} s"
        )
    avatar = create(surface)
    avatar.info["training"]["geometry"] = report.as_dict()
    return avatar


def _top_entry(path: Path, inside: Path) -> str | None:
    """The name of the entry of folder ``inside`` that contains ``path``, if any."""
    try:
        return Path(path).resolve().relative_to(inside.resolve()).parts[0]
    except (ValueError, IndexError):
        return None


def train_run(
    subject_path: str | Path,
    run: str | Path,
    config: RunConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    steps: int | None = None,
    model: HeadModel | None = None,
    settings_given: bool = False,
    log=lambda m: print(m, file=sys.stderr, flush=True),
) -> dict:
    """Train into a run folder, or continue it (:meth:`RunFolder.prepare` has the rule).

    A continued run keeps its own settings, except ``steps`` when given (to extend it).

    Args:
        settings_given: the caller set ``config`` from options (see :meth:`RunFolder.prepare`).

    Raises:
        InputError: the folder clashes (see :meth:`RunFolder.prepare`), the run was trained on
            another subject, or settings were given for a run that continues.
    """
    inside = _top_entry(subject_path, Path(run))  # fit's subject, kept when the run restarts
    keep = [inside] if inside else []
    job = ResumableJob(run, resume=resume, overwrite=overwrite, keep=keep, settings_given=settings_given)
    subject = load_subject(subject_path)
    fingerprint = subject.fingerprint
    recorded = job.recorded_config()
    if recorded is not None:
        if recorded["subject"]["fingerprint"] not in (None, fingerprint):
            raise InputError(
                f"{job.folder.path} was trained on the subject at {recorded['subject']['path']} (tracking "
                f"sha256 {recorded['subject']['fingerprint'][:12]}), not on {subject_path} "
                f"({fingerprint[:12]}). Resume it with its own subject, or train into another folder."
            )
        config = run_config_from_dict(recorded["config"])
    config.steps = steps or config.steps
    check_device(config.device)
    data = load_frame_data(subject, config.size)
    parts = job.latest_parts()
    if parts is not None:
        trainer = Trainer(data, avatar_from_parts(parts, config.device), config)
        trainer.restore(parts)
        log(f"resumed {job.folder.path} at step {trainer.step}")
    else:
        avatar = new_avatar(model or load_head_model(), subject, config, data=data, log=log)
        trainer = Trainer(data, avatar, config)
        if job.continuing:
            log(f"{job.folder.path} has no checkpoint yet: starting it from step 0")
    job.begin(subject.path, fingerprint, to_dict(config))
    summary = trainer.fit(progress=True, checkpoint=lambda: job.checkpoint(trainer.step, trainer.state()))
    trainer.summarise()
    trainer.avatar.save(job.folder.avatar_path)
    log(f"trained {summary['gaussians']} Gaussians in {summary['seconds'] / 60:.1f} min -> {job.folder.path}")
    return summary


def train(
    subject_path: str | Path,
    config: RunConfig | None = None,
    *,
    model: HeadModel | None = None,
    progress: bool = False,
) -> tuple[Avatar, FrameData, dict]:
    """Train an avatar in memory (nothing written); returns it, the frame data and a summary."""
    config = config or RunConfig()
    subject = load_subject(subject_path)
    check_device(config.device)
    data = load_frame_data(subject, config.size)
    trainer = Trainer(data, new_avatar(model or load_head_model(), subject, config, data=data), config)
    summary = trainer.fit(progress=progress)
    return trainer.avatar, trainer.data, summary
