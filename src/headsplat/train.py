"""``headsplat train``: optimise the avatar against a subject's training frames.

Gaussians start as uniform UV samples and are densified and pruned by a strategy
(:mod:`headsplat.strategy`: FATE's ``sampling`` by default, ``threshold`` or ``fixed``).
Loss: L1 + ssim_weight (1 - SSIM) on frames composited onto the background with the subject's
masks, plus the scale-ratio regulariser (PhysGaussian) and the personal-correction regularisers.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from headsplat.avatar import LEARNED, initial_gaussians, world_gaussians
from headsplat.dataset import Subject, load_subject
from headsplat.deform.head import FrameCorrections, PersonalisedHead
from headsplat.gaussians.store import Params, make_optimizer
from headsplat.gaussians.uv_sampling import DENSITY_SCALE, sample_uv
from headsplat.head import HeadModel, load_head_model
from headsplat.metrics import psnr, ssim
from headsplat.render import rasterize
from headsplat.strategy import StrategyConfig, make_strategy


@dataclass
class TrainConfig:
    """Training settings; the defaults fit 2 CPU cores at 256 x 256."""

    size: int = 256
    """Side of the training images in pixels."""
    steps: int = 3000
    texels_per_cm: float = 2.0
    """Initial UV sampling density (2.0: ~14k Gaussians on ICT)."""
    seed: int = 0
    background: float = 1.0
    """Grey level the masked frames are composited onto (and the renderer's background)."""
    ssim_weight: float = 0.2
    scale_ratio_weight: float = 0.1
    scale_ratio_max: float = 9.0
    """PhysGaussian: penalise Gaussians whose largest/smallest scale ratio exceeds this."""
    laplacian_weight: float = 1e3
    offset_weight: float = 1.0
    blendshape_weight: float = 1.0
    lr_sh0: float = 2.5e-3
    lr_opacity: float = 5e-2
    lr_log_scale: float = 5e-3
    lr_rotation: float = 1e-3
    lr_offset: float = 1.6e-3
    lr_head: float = 1e-4
    """Personal blendshape and neutral corrections (cm per step scale)."""
    lr_frames: float = 5e-4
    """Per-frame pose and expression corrections."""
    log_every: int = 50
    strategy: StrategyConfig = field(default_factory=StrategyConfig)


@dataclass
class TrainingData:
    """A subject's frames at training size, in memory.

    Attributes:
        images: (F, S, S, 3) uint8. masks: (F, S, S) uint8. K: (3, 3) intrinsics at size S.
    """

    subject: Subject
    images: torch.Tensor
    masks: torch.Tensor
    K: torch.Tensor

    def target(self, f: int, background: float) -> torch.Tensor:
        """(S, S, 3) float frame f composited onto the background with its mask."""
        alpha = self.masks[f].float()[..., None] / 255
        return self.images[f].float() / 255 * alpha + background * (1 - alpha)


def load_training_data(subject: Subject, size: int) -> TrainingData:
    """Read and resize every frame and mask of a subject."""
    images, masks = [], []
    for f in range(subject.n_frames):
        image = cv2.cvtColor(cv2.imread(str(subject.frame_path(f))), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(subject.mask_path(f)), cv2.IMREAD_GRAYSCALE)
        images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        masks.append(cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA))
    K = torch.as_tensor(subject.tracking["K"], dtype=torch.float32).clone()
    K[:2] *= size / subject.meta["size"]
    return TrainingData(subject, torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks)), K)


class AvatarState:
    """Everything that is optimised: Gaussians, personal head corrections, per-frame corrections."""

    def __init__(self, model: HeadModel, subject: Subject, config: TrainConfig):
        tracking = subject.tracking
        self.head = PersonalisedHead(model, tracking["identity"])
        self.frames = FrameCorrections(subject.n_frames, model.n_expression)
        self.rotation = torch.as_tensor(tracking["rotation"], dtype=torch.float32)
        self.translation = torch.as_tensor(tracking["translation"], dtype=torch.float32)
        self.expression = torch.as_tensor(tracking["expression"], dtype=torch.float32)
        self.gaze = torch.as_tensor(tracking["gaze"], dtype=torch.float32)
        samples = sample_uv(model, config.texels_per_cm)
        density = {name: config.texels_per_cm * DENSITY_SCALE.get(name, 1.0) for name in model.material_names}
        per_sample = torch.tensor(
            [density[model.material_names[m]] for m in samples.material], dtype=torch.float32
        )
        self.params: Params = initial_gaussians(samples, self.head.neutral, self.head.triangles, per_sample)

    def posed_vertices(self, f: int) -> torch.Tensor:
        frames = torch.tensor([f])
        R, t, e = self.frames.apply(
            frames, self.rotation[frames], self.translation[frames], self.expression[frames]
        )
        return self.head(e.clamp(0, 1), self.gaze[frames], R, t)[0]

    def render(self, f: int, K: torch.Tensor, size: int, background: float):
        means, quats, scales, opacities, colours = world_gaussians(
            self.params, self.posed_vertices(f), self.head.triangles
        )
        return rasterize(
            means,
            quats,
            scales,
            opacities,
            colours,
            K,
            torch.eye(4),
            size,
            size,
            background=torch.full((3,), background),
            backend="cpu",
        )


def _scale_ratio_penalty(log_scale: torch.Tensor, max_ratio: float) -> torch.Tensor:
    """PhysGaussian's anisotropy regulariser: mean of relu(max/min scale - r)."""
    ratio = torch.exp(log_scale.max(-1).values - log_scale.min(-1).values)
    return torch.relu(ratio - max_ratio).mean()


def train(
    subject_path: str | Path,
    config: TrainConfig | None = None,
    model: HeadModel | None = None,
    log=lambda m: print(m, file=sys.stderr, flush=True),
) -> tuple[AvatarState, TrainingData, dict]:
    """Train an avatar; returns its state, the data and a summary (steps, seconds, last losses)."""
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    subject = load_subject(subject_path)
    model = model or load_head_model()
    data = load_training_data(subject, config.size)
    state = AvatarState(model, subject, config)
    gaussian_optimizer = make_optimizer(
        state.params, {name: getattr(config, f"lr_{name}") for name in LEARNED}
    )
    other_optimizer = torch.optim.Adam(
        [
            {"params": state.head.parameters(), "lr": config.lr_head},
            {"params": state.frames.parameters(), "lr": config.lr_frames},
        ]
    )
    strategy = make_strategy(config.strategy, config.size, config.seed)
    train_frames, _ = subject.split()
    generator = np.random.default_rng(config.seed)
    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        f = int(generator.choice(train_frames))
        out = state.render(f, data.K, config.size, config.background)
        target = data.target(f, config.background)
        l1 = (out.image - target).abs().mean()
        loss = l1 + config.ssim_weight * (1 - ssim(out.image, target))
        loss = loss + config.scale_ratio_weight * _scale_ratio_penalty(
            state.params["log_scale"], config.scale_ratio_max
        )
        regular = state.head.regularisation()
        loss = (
            loss
            + config.laplacian_weight * regular["laplacian"]
            + config.offset_weight * regular["offset_magnitude"]
        )
        loss = loss + config.blendshape_weight * regular["blendshape_magnitude"]
        gaussian_optimizer.zero_grad(set_to_none=True)
        other_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gaussian_optimizer.step()
        other_optimizer.step()
        strategy.step_post_backward(state.params, gaussian_optimizer, step, out.info)
        if step % config.log_every == 0 or step == config.steps:
            with torch.no_grad():
                quality = float(psnr(out.image, target))
            log(
                f"step {step}/{config.steps} loss {loss.item():.4f} l1 {l1.item():.4f} psnr {quality:.2f} "
                f"gaussians {len(state.params['triangle'])} {time.perf_counter() - start:.0f}s"
            )
    return state, data, {"steps": config.steps, "seconds": time.perf_counter() - start}


@torch.no_grad()
def evaluate_psnr(state: AvatarState, data: TrainingData, frames: np.ndarray, background: float) -> float:
    """Mean PSNR of the renders of ``frames`` against their masked targets."""
    size = data.images.shape[1]
    values = [
        float(psnr(state.render(int(f), data.K, size, background).image, data.target(int(f), background)))
        for f in frames
    ]
    return float(np.mean(values))
