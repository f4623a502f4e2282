"""``headsplat eval``: held-out metrics of a trained run, as the field reports them.

Renders the subject's test frames (the last 20 %, self-reenactment, never trained on) from their
tracked conditions, then again after refining those (:mod:`headsplat.evaluation.refine`), and
writes ``RUN/eval/metrics.json`` (PSNR, SSIM, LPIPS-AlexNet means, the Gaussian count, training
minutes, render frames per second) and ``RUN/eval/side_by_side.mp4`` (ground truth | render |
error x4).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from headsplat.avatar.avatar import Avatar, load_avatar
from headsplat.avatar.condition import Condition
from headsplat.evaluation.metrics import LPIPS, psnr, ssim
from headsplat.evaluation.refine import DEFAULT_REFINE, RefineConfig, refine_conditions
from headsplat.io.atomic import atomic_write
from headsplat.io.errors import InputError
from headsplat.io.progress import ProgressBar
from headsplat.io.run import RunFolder
from headsplat.io.subject import Subject, load_subject, write_json
from headsplat.io.video import to_uint8, write_mp4
from headsplat.training.data import FrameData, load_frame_data


def evaluation_device(device: str) -> str:
    """The run's training ``device`` when it is available here, else the CPU (a run trained on a
    GPU evaluates on a laptop)."""
    return device if torch.device(device).type == "cpu" or torch.cuda.is_available() else "cpu"


def subject_of(run: RunFolder, avatar: Avatar, subject: str | Path | None) -> Subject:
    """The subject folder to evaluate ``run`` against: ``subject``, or the one it was trained on.

    Raises:
        InputError: the folder is gone (``--subject`` names where it is now), or it is not the
            subject the avatar was trained on.
    """
    path = Path(subject) if subject is not None else run.subject_path()
    if not path.is_dir():
        raise InputError(
            f"{run.path}: its subject folder {path} is gone, and evaluation needs its frames. "
            "Pass --subject DIR to name where the subject folder is now."
        )
    found = load_subject(path)
    expected = avatar.info["training"].get("subject")
    if expected and found.fingerprint != expected:
        raise InputError(
            f"{path} is not the subject {run.path} was trained on (its tracking.npz differs); "
            "pass the subject folder it was trained on with --subject."
        )
    return found


def evaluate_run(
    run: str | Path,
    subject: str | Path | None = None,
    video: bool = True,
    refine: RefineConfig | None = DEFAULT_REFINE,
    progress: bool = False,
) -> dict:
    """Evaluate a run's avatar on its subject's test frames; returns the metrics.

    With ``refine`` (the default), the test frames' pose and expression are first fitted to their
    images with the avatar frozen (IMavatar and PointAvatar's protocol): ``psnr``, ``ssim``,
    ``lpips`` and the video are then the refined ones, and ``tracked`` holds the scores of the
    renders from the tracking as it is (FATE and GaussianAvatars' protocol). ``progress`` shows
    the refinement's progress on stderr.
    """
    folder = RunFolder(run)
    config = folder.read_config()["config"]
    avatar = load_avatar(folder.path, evaluation_device(config["device"]))
    found = subject_of(folder, avatar, subject)
    background = avatar.info["background"]
    data = load_frame_data(found, avatar.size).with_torso(avatar.rest_pose()).to(avatar.device)
    train_frames, test_frames = found.split()
    camera = data.camera()
    lpips = LPIPS("alex").to(avatar.device)
    targets = [data.target(int(f), background) for f in test_frames]
    conditions = [data.condition(int(f)) for f in test_frames]
    scores, images, render_seconds = _score(avatar, conditions, targets, background, lpips)
    tracked = {name: float(np.mean(values)) for name, values in scores.items()}
    refine_seconds = 0.0
    refined = refine is not None and refine.steps > 0
    if refined:
        start = time.perf_counter()
        bar = ProgressBar(len(conditions), log_every=10) if progress else None
        shown = None if bar is None else lambda n: bar.update(n, {"refining": "test frames"})
        conditions = refine_conditions(avatar, conditions, camera, targets, background, refine, shown)
        refine_seconds = time.perf_counter() - start
        scores, images, _ = _score(avatar, conditions, targets, background, lpips)
    # The same metric on a tenth of the training frames: the gap to the test frames is the
    # generalisation a reader needs to judge the test numbers.
    train_psnr = mean_psnr(avatar, data, train_frames[::10], background)
    training = avatar.info["training"]
    metrics = {
        "test_frames": len(test_frames),
        **{name: float(np.mean(values)) for name, values in scores.items()},
        "protocol": f"refined ({refine.steps} steps per frame)" if refined else "tracked",
        "tracked": tracked,
        "refine_minutes": refine_seconds / 60,
        "train_psnr": train_psnr,
        "gaussians": len(avatar.gaussians),
        "steps": training.get("steps"),
        "training_minutes": training.get("seconds", 0.0) / 60,
        "render_fps": len(test_frames) / render_seconds,
        "size": avatar.size,
        "strategy": config["strategy"]["name"],
        "per_frame": {name: [round(v, 5) for v in values] for name, values in scores.items()},
    }
    out = folder.path / "eval"
    out.mkdir(exist_ok=True)
    if video:
        panels = []
        for target, image in zip(targets, images, strict=True):
            error = ((image - target).abs() * 4).clamp(0, 1)
            panels.append(np.concatenate([to_uint8(target), to_uint8(image), to_uint8(error)], axis=1))
        atomic_write(out / "side_by_side.mp4", lambda p: write_mp4(p, panels, avatar.info["fps"]))
    atomic_write(out / "metrics.json", lambda p: write_json(p, metrics))
    return metrics


@torch.no_grad()
def _score(avatar: Avatar, conditions: Sequence[Condition], targets, background: float, lpips: LPIPS):
    """Per-frame PSNR, SSIM and LPIPS of the renders of ``conditions`` against ``targets``, the
    renders, and the seconds the renders took."""
    scores = {"psnr": [], "ssim": [], "lpips": []}
    images, seconds = [], 0.0
    for condition, target in zip(conditions, targets, strict=True):
        start = time.perf_counter()
        image = avatar.render(condition, background=background).image
        seconds += time.perf_counter() - start
        scores["psnr"].append(float(psnr(image, target)))
        scores["ssim"].append(float(ssim(image, target)))
        scores["lpips"].append(float(lpips(image, target)))
        images.append(image)
    return scores, images, seconds


@torch.no_grad()
def mean_psnr(avatar: Avatar, data: FrameData, frames: Sequence[int], background: float) -> float:
    """Mean PSNR of the avatar's renders of ``frames`` (tracked conditions) against their targets."""
    camera = data.camera()
    values = [
        float(
            psnr(
                avatar.render(data.condition(int(f)), camera, background).image,
                data.target(int(f), background),
            )
        )
        for f in frames
    ]
    return float(np.mean(values))
