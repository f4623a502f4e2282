"""``headsplat eval``: held-out metrics of a trained run, as the field reports them.

Renders the subject's test frames (the last 20 %, self-reenactment, never trained on) from their
tracked pose and expression, then again after refining those (:mod:`headsplat.evaluation.refine`), and
writes ``RUN/eval/metrics.json`` (PSNR, SSIM, LPIPS-AlexNet means, the Gaussian count, training
minutes, render frames per second) and ``RUN/eval/side_by_side.mp4`` (ground truth | render |
error x4).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from headsplat.avatar.state import AvatarState
from headsplat.evaluation.metrics import LPIPS, psnr, ssim
from headsplat.evaluation.refine import DEFAULT_REFINE, RefineConfig, refine_tracking
from headsplat.head import HeadModel
from headsplat.io.atomic import atomic_write
from headsplat.io.checkpoint import latest_checkpoint
from headsplat.io.subject import write_json
from headsplat.io.video import to_uint8, write_mp4
from headsplat.training.trainer import TrainingData, evaluate_psnr, load_avatar, load_training_data


def evaluate_run(
    run: str | Path,
    model: HeadModel | None = None,
    video: bool = True,
    refine: RefineConfig | None = DEFAULT_REFINE,
) -> dict:
    """Evaluate a run's latest checkpoint on its subject's test frames; returns the metrics.

    With ``refine`` (the default), the test frames' pose and expression are first fitted to their
    images with the avatar frozen (:mod:`headsplat.evaluation.refine`, IMavatar and PointAvatar's protocol):
    ``psnr``, ``ssim``, ``lpips`` and the video are then the refined ones, and ``tracked`` holds the
    scores of the renders from the tracking as it is (FATE and GaussianAvatars' protocol).
    """
    run = Path(run)
    state, subject, config = load_avatar(run, model)
    data = load_training_data(subject, config.size).to(state.device)
    train_frames, test_frames = subject.split()
    lpips = LPIPS("alex").to(state.device)
    scores, images, render_seconds = _score(state, data, test_frames, config.background, lpips)
    tracked = {name: float(np.mean(values)) for name, values in scores.items()}
    refine_seconds = 0.0
    refined = refine is not None and refine.steps > 0
    if refined:
        start = time.perf_counter()
        refine_tracking(
            state, test_frames, data.K, lambda f: data.target(f, config.background), config.background, refine
        )
        refine_seconds = time.perf_counter() - start
        scores, images, _ = _score(state, data, test_frames, config.background, lpips)
    # The same metric on a tenth of the training frames: the gap to the test frames is the
    # generalisation a reader needs to judge the test numbers.
    train_psnr = evaluate_psnr(state, data, train_frames[::10], config.background)
    checkpoint = json.loads(latest_checkpoint(run / "checkpoints").read_text())
    metrics = {
        "test_frames": len(test_frames),
        **{name: float(np.mean(values)) for name, values in scores.items()},
        "protocol": f"refined ({refine.steps} steps per frame)" if refined else "tracked",
        "tracked": tracked,
        "refine_minutes": refine_seconds / 60,
        "train_psnr": train_psnr,
        "gaussians": len(state.params["triangle"]),
        "steps": checkpoint["step"],
        "training_minutes": checkpoint["seconds"] / 60,
        "render_fps": len(test_frames) / render_seconds,
        "size": config.size,
        "strategy": config.strategy.name,
        "per_frame": {name: [round(v, 5) for v in values] for name, values in scores.items()},
    }
    folder = run / "eval"
    folder.mkdir(exist_ok=True)
    if video:
        panels = []
        for f, image in zip(test_frames, images, strict=True):
            target = data.target(int(f), config.background)
            error = ((image - target).abs() * 4).clamp(0, 1)
            panels.append(np.concatenate([to_uint8(target), to_uint8(image), to_uint8(error)], axis=1))
        atomic_write(
            folder / "side_by_side.mp4", lambda p: write_mp4(p, panels, subject.meta.get("fps", 25.0))
        )
    atomic_write(folder / "metrics.json", lambda p: write_json(p, metrics))
    return metrics


@torch.no_grad()
def _score(state: AvatarState, data: TrainingData, frames: np.ndarray, background: float, lpips: LPIPS):
    """Per-frame PSNR, SSIM and LPIPS of the renders of ``frames``, the renders, and the seconds
    the renders took."""
    scores = {"psnr": [], "ssim": [], "lpips": []}
    images, seconds = [], 0.0
    for f in frames:
        start = time.perf_counter()
        image = state.render(int(f), data.K, data.images.shape[1], background).image
        seconds += time.perf_counter() - start
        target = data.target(int(f), background)
        scores["psnr"].append(float(psnr(image, target)))
        scores["ssim"].append(float(ssim(image, target)))
        scores["lpips"].append(float(lpips(image, target)))
        images.append(image)
    return scores, images, seconds
