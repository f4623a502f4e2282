"""``headsplat eval``: held-out metrics of a trained run, as the field reports them.

Renders the subject's test frames (the last 20 %, self-reenactment: tracked pose and expression,
never trained on), and writes ``RUN/eval/metrics.json`` (PSNR, SSIM, LPIPS-AlexNet means, the
Gaussian count, training minutes, render frames per second) and ``RUN/eval/side_by_side.mp4``
(ground truth | render | error x4).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from headsplat.atomic import atomic_write
from headsplat.checkpoint import latest_checkpoint
from headsplat.dataset import write_json
from headsplat.head import HeadModel
from headsplat.metrics import LPIPS, psnr, ssim
from headsplat.train import evaluate_psnr, load_avatar, load_training_data
from headsplat.video import to_uint8, write_mp4


@torch.no_grad()
def evaluate_run(run: str | Path, model: HeadModel | None = None, video: bool = True) -> dict:
    """Evaluate a run's latest checkpoint on its subject's test frames; returns the metrics."""
    run = Path(run)
    state, subject, config = load_avatar(run, model)
    data = load_training_data(subject, config.size).to(state.device)
    _, test_frames = subject.split()
    lpips = LPIPS("alex").to(state.device)
    scores = {"psnr": [], "ssim": [], "lpips": []}
    panels, render_seconds = [], 0.0
    for f in test_frames:
        start = time.perf_counter()
        image = state.render(int(f), data.K, config.size, config.background).image
        render_seconds += time.perf_counter() - start
        target = data.target(int(f), config.background)
        scores["psnr"].append(float(psnr(image, target)))
        scores["ssim"].append(float(ssim(image, target)))
        scores["lpips"].append(float(lpips(image, target)))
        if video:
            error = ((image - target).abs() * 4).clamp(0, 1)
            panels.append(np.concatenate([to_uint8(target), to_uint8(image), to_uint8(error)], axis=1))
    # The same metric on a tenth of the training frames: the gap to the test frames is the
    # generalisation a reader needs to judge the test numbers.
    train_frames, _ = subject.split()
    train_psnr = evaluate_psnr(state, data, train_frames[::10], config.background)
    checkpoint = json.loads(latest_checkpoint(run / "checkpoints").read_text())
    metrics = {
        "test_frames": len(test_frames),
        **{name: float(np.mean(values)) for name, values in scores.items()},
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
        atomic_write(
            folder / "side_by_side.mp4", lambda p: write_mp4(p, panels, subject.meta.get("fps", 25.0))
        )
    atomic_write(folder / "metrics.json", lambda p: write_json(p, metrics))
    return metrics
