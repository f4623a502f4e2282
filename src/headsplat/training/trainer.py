"""``headsplat train``: optimise the avatar against a subject's training frames.

Gaussians start as uniform UV samples and are densified and pruned by a strategy
(:mod:`headsplat.strategy`: FATE's ``sampling`` by default, ``threshold`` or ``fixed``).
Loss: L1 + ssim_weight (1 - SSIM) on frames composited onto the background with the subject's
masks, mask_weight |alpha - mask|, the scale-ratio regulariser (PhysGaussian), the colour prior
and the personal-correction regularisers. After the last step the unseen head is completed
(:mod:`headsplat.avatar.gaussians.completion`).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from headsplat.avatar.gaussians.attributes import LEARNED, SH_C0
from headsplat.avatar.gaussians.colour_prior import colour_smoothness
from headsplat.avatar.gaussians.store import make_optimizer
from headsplat.avatar.state import AvatarState, load_avatar_tensors, named_parameters
from headsplat.evaluation.metrics import LPIPS, psnr, ssim
from headsplat.head import HeadModel, load_head_model
from headsplat.io.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
)
from headsplat.io.errors import InputError
from headsplat.io.progress import ProgressBar
from headsplat.io.subject import Subject, load_subject
from headsplat.strategy import StrategyConfig, make_strategy

COMPLETION_FRAMES = 40
"""Training frames that decide which Gaussians are seen (one render and backward pass each)."""


@dataclass
class TrainConfig:
    """Training settings; the defaults fit 2 CPU cores at 256 x 256."""

    size: int = 256
    """Side of the training images in pixels."""
    steps: int = 2000
    """At 256 px on 2 cores: 5-10 minutes. More steps fit the training frames better and raise
    held-out PSNR little (d10: 21.1 -> 21.9 dB from 2000 to 4000 steps, for 2.2x the time)."""
    texels_per_cm: float = 2.0
    """Initial UV sampling density (2.0: ~14k Gaussians on ICT)."""
    seed: int = 0
    background: float = 1.0
    """Grey level the masked frames are composited onto (and the renderer's background)."""
    ssim_weight: float = 0.2
    scale_ratio_weight: float = 0.1
    scale_ratio_max: float = 9.0
    """PhysGaussian: penalise Gaussians whose largest/smallest scale ratio exceeds this."""
    mask_weight: float = 0.2
    """L1 between the rendered alpha and the subject's mask: the silhouette must come from
    transparency, not from Gaussians painted in the background's colour, which a turntable shows
    as white and skin-coloured patches behind the ears and which completion would spread over the
    back of the head. Measured at 0.2 (held out): d18 28.44 -> 28.28 dB, LPIPS 0.067 -> 0.069;
    d10 21.35 -> 21.34 dB; both orbits lose their patches (d10's back turns from skin to hair)."""
    colour_smoothness_weight: float = 1.0
    """Pull of each colour towards its mesh neighbourhood's (:mod:`headsplat.avatar.gaussians.colour_prior`):
    fills the parts of the head the video never shows."""
    laplacian_weight: float = 1e3
    """Smoothness of the neutral correction dV0 (squared uniform Laplacian)."""
    offset_weight: float = 1.0
    blendshape_weight: float = 1.0
    """Magnitude penalties of dV0 and dB_exp, applied as Adam weight decay
    (:meth:`headsplat.avatar.deformers.head.PersonalisedHead.weight_decays`)."""
    still_torso: bool = True
    """Bend the neck towards one still torso pose per clip
    (:func:`headsplat.avatar.deformers.head.torso_pose`) so that shoulders and the hair on them
    stop swinging with every turn of the head."""
    complete_unseen: bool = True
    """After the last step, replace the Gaussians no training frame shows (the back of the head)
    by opaque ones coloured from the seen surface (:mod:`headsplat.avatar.gaussians.completion`)."""
    lr_sh0: float = 2.5e-3
    lr_opacity: float = 5e-2
    lr_log_scale: float = 5e-3
    lr_rotation: float = 1e-3
    lr_offset: float = 1.6e-3
    lr_head: float = 1e-4
    """Personal blendshape and neutral corrections (cm per step scale)."""
    lr_frames: float = 0.0
    """Per-frame pose and expression corrections of the training frames (FATE: 5e-4). Off by
    default. Measured at 5e-4 (2000 steps; held out, refined / tracked, :mod:`headsplat.evaluation.evaluate`):
    d18 32.23 -> 32.95 / 28.21 -> 25.20 dB, d10 25.83 -> 26.72 / 21.42 -> 22.09 dB. The avatar
    fits the corrected training poses and can render the tracker's own poses worse, and the
    tracker's poses are what reenactment drives it with."""
    lpips_weight: float = 0.0
    """Weight of an LPIPS (VGG) term in the loss from step ``lpips_start`` on (FlashAvatar: 0.05).
    Off on CPU, where VGG at 256 px would double the step time."""
    lpips_start: int = 0
    device: str = "cpu"
    """``cpu`` (numba rasterizer) or ``cuda`` (gsplat rasterizer; ``pip install headsplat[cuda]``)."""
    log_every: int = 50
    strategy: StrategyConfig = field(default_factory=StrategyConfig)


PRESETS = {
    "cpu": TrainConfig(),
    "gpu": TrainConfig(
        size=512,
        steps=30_000,
        texels_per_cm=3.0,
        lpips_weight=0.05,
        lpips_start=15_000,
        device="cuda",
        log_every=500,
        strategy=StrategyConfig(start=500, every=500, add=5000, max_gaussians=300_000),
    ),
}
"""``headsplat train --preset``: ``cpu`` fits 2 cores at 256 px (about 10 minutes); ``gpu`` trains
at 512 px for 30k steps with a larger densification budget and FlashAvatar's LPIPS schedule
(VGG, weight 0.05 from step 15k; its train.py)."""


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

    def to(self, device: str | torch.device) -> TrainingData:
        return TrainingData(self.subject, self.images.to(device), self.masks.to(device), self.K.to(device))

    def alpha(self, f: int) -> torch.Tensor:
        """(S, S, 1) float mask of frame f in [0, 1]."""
        return self.masks[f].float()[..., None] / 255

    def target(self, f: int, background: float) -> torch.Tensor:
        """(S, S, 3) float frame f composited onto the background with its mask."""
        alpha = self.alpha(f)
        return self.images[f].float() / 255 * alpha + background * (1 - alpha)


def load_training_data(subject: Subject, size: int) -> TrainingData:
    """Read and resize every frame and mask of a subject."""
    images, masks = [], []
    for f in range(subject.n_frames):
        image = cv2.cvtColor(cv2.imread(str(subject.frame_path(f))), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(subject.mask_path(f)), cv2.IMREAD_GRAYSCALE)
        images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        masks.append(cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA))
    images, masks = torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks))
    return TrainingData(subject, images, masks, subject.intrinsics(size))


def new_state(model: HeadModel | None, subject: Subject, config: TrainConfig) -> AvatarState:
    """An untrained avatar of ``subject`` as ``config`` sets it up (default head model if None)."""
    return AvatarState(
        model or load_head_model(), subject, config.texels_per_cm, config.device, config.still_torso
    )


def _device_available(device: str) -> bool:
    kind = torch.device(device).type
    return kind == "cpu" or (kind == "cuda" and torch.cuda.is_available())


def _scale_ratio_penalty(log_scale: torch.Tensor, max_ratio: float) -> torch.Tensor:
    """PhysGaussian's anisotropy regulariser: mean of relu(max/min scale - r)."""
    ratio = torch.exp(log_scale.max(-1).values - log_scale.min(-1).values)
    return torch.relu(ratio - max_ratio).mean()


def load_avatar(
    run: str | Path, model: HeadModel | None = None, device: str | None = None
) -> tuple[AvatarState, Subject, TrainConfig]:
    """The trained avatar of a run folder (its latest checkpoint), without loading any frames.

    ``device`` defaults to the training device when it is available here, else the CPU (a run
    trained on a GPU evaluates and exports on a laptop).

    Raises:
        InputError: not a run folder, or no checkpoint yet.
    """
    run = Path(run)
    if not (run / "config.json").is_file():
        raise InputError(
            f"{run}: not a headsplat run folder (no config.json). Train one with `headsplat train`."
        )
    latest = latest_checkpoint(run / "checkpoints")
    if latest is None:
        raise InputError(f"{run}: has no checkpoint yet. Train (or resume) it with `headsplat train`.")
    tensors, meta = load_checkpoint(latest)
    config = config_from_dict(meta["config"])
    config.device = device or (config.device if _device_available(config.device) else "cpu")
    subject = load_subject(json.loads((run / "config.json").read_text())["subject"])
    state = new_state(model, subject, config)
    load_avatar_tensors(state, tensors)
    return state, subject, config


class Trainer:
    """The optimisation of one avatar, resumable from its checkpoints.

    Args:
        subject_path: the subject folder. config: settings. model: the head model (default: load).
        run: the run folder for ``checkpoints/`` (None: nothing is written).
    """

    def __init__(
        self, subject_path, config: TrainConfig, model: HeadModel | None = None, run: Path | None = None
    ):
        self.config = config
        if not _device_available(config.device):
            raise InputError(
                f"device {config.device!r} is not available on this machine (torch sees no CUDA GPU); "
                "train with --preset cpu, or on a machine with a GPU and `pip install headsplat[cuda]`."
            )
        torch.manual_seed(config.seed)
        self.subject = load_subject(subject_path)
        self.train_frames, _ = self.subject.split()
        self.data = load_training_data(self.subject, config.size).to(config.device)
        self.lpips = LPIPS("vgg").to(config.device) if config.lpips_weight > 0 else None
        self.state = new_state(model, self.subject, config)
        self.run = run
        self.step = 0
        self.seconds = 0.0
        self.frame_generator = np.random.default_rng(config.seed)
        self.strategy = make_strategy(config.strategy, config.size, config.seed)
        self._make_optimizers()

    def _make_optimizers(self) -> None:
        c = self.config
        self.gaussian_optimizer = make_optimizer(
            self.state.params, {n: getattr(c, f"lr_{n}") for n in LEARNED}
        )
        rates = {"head": c.lr_head, "frames": c.lr_frames}
        decays = self.state.head.weight_decays(c.offset_weight, c.blendshape_weight)
        # Parameters with a zero learning rate stay out (Adam would still spend time on them).
        groups = [
            {
                "params": [p],
                "lr": rates[n.split(".")[0]],
                "name": n,
                "weight_decay": decays.get(n.removeprefix("head."), 0.0),
            }
            for n, p in named_parameters(self.state).items()
            if rates[n.split(".")[0]] > 0
        ]
        # fused: one kernel per step instead of a dozen tensor passes; the 4.2M-entry blendshape
        # correction made Adam a quarter of a CPU step.
        self.other_optimizer = torch.optim.Adam(groups, fused=True)

    def loss(self, f: int):
        """Total loss, its parts, the rendering and the target of training frame f."""
        c, state = self.config, self.state
        out = state.render(f, self.data.K, c.size, c.background)
        target = self.data.target(f, c.background)
        parts = {"l1": (out.image - target).abs().mean(), "dssim": 1 - ssim(out.image, target)}
        parts["scale_ratio"] = _scale_ratio_penalty(state.params["log_scale"], c.scale_ratio_max)
        parts["colour_smoothness"] = colour_smoothness(
            SH_C0 * state.params["sh0"],
            state.params["triangle"],
            state.head.triangles,
            len(state.head.neutral),
        )
        parts["laplacian"] = state.head.smoothness()
        total = parts["l1"] + c.ssim_weight * parts["dssim"] + c.scale_ratio_weight * parts["scale_ratio"]
        total = total + c.colour_smoothness_weight * parts["colour_smoothness"]
        total = total + c.laplacian_weight * parts["laplacian"]
        if c.mask_weight > 0:
            parts["mask"] = (out.alpha - self.data.alpha(f).reshape(out.alpha.shape)).abs().mean()
            total = total + c.mask_weight * parts["mask"]
        if self.lpips is not None and self.step >= c.lpips_start:
            parts["lpips"] = self.lpips(out.image, target).mean()
            total = total + c.lpips_weight * parts["lpips"]
        return total, parts, out, target

    def train_step(self) -> dict[str, float]:
        """One optimisation step on a random training frame; returns the losses and PSNR."""
        f = int(self.frame_generator.choice(self.train_frames))
        self.step += 1
        total, parts, out, target = self.loss(f)
        self.gaussian_optimizer.zero_grad(set_to_none=True)
        self.other_optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.gaussian_optimizer.step()
        self.other_optimizer.step()
        self.strategy.step_post_backward(self.state.params, self.gaussian_optimizer, self.step, out.info)
        with torch.no_grad():
            quality = float(psnr(out.image, target))
        return {"loss": total.item(), **{k: v.item() for k, v in parts.items()}, "psnr": quality}

    def fit(self, progress: bool = False, checkpoint_every: int = 500) -> dict:
        """Train up to ``config.steps`` with checkpoints (and a progress bar on stderr); returns a
        summary."""
        start = time.perf_counter() - self.seconds
        bar = ProgressBar(self.config.steps, self.step, log_every=self.config.log_every) if progress else None
        while self.step < self.config.steps:
            metrics = self.train_step()
            if self.step == self.config.steps and self.config.complete_unseen:
                completed = self.complete_unseen()
                if progress:
                    print(
                        f"completion: {completed['removed']} unseen Gaussians removed, "
                        f"{completed['added']} added",
                        file=sys.stderr,
                        flush=True,
                    )
            self.seconds = time.perf_counter() - start
            if bar is not None:
                fields = {
                    "loss": f"{metrics['loss']:.4f}",
                    "psnr": f"{metrics['psnr']:.2f}",
                    "gaussians": str(len(self.state.params["triangle"])),
                }
                bar.update(self.step, fields, self.seconds)
            if self.run is not None and (self.step % checkpoint_every == 0 or self.step == self.config.steps):
                self.save()
        return {"steps": self.step, "seconds": self.seconds, "gaussians": len(self.state.params["triangle"])}

    def complete_unseen(self) -> dict[str, int]:
        """Complete the unseen head (:meth:`AvatarState.complete_unseen`) from up to
        :data:`COMPLETION_FRAMES` training frames spread over the clip."""
        train = self.train_frames
        frames = train[np.linspace(0, len(train) - 1, min(COMPLETION_FRAMES, len(train))).round().astype(int)]
        return self.state.complete_unseen(frames, self.data.K, self.config.size, self.gaussian_optimizer)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Everything a resumed run needs, as named tensors."""
        out = {f"gaussians.{k}": v for k, v in self.state.params.items()}
        out |= dict(named_parameters(self.state))
        out |= optimizer_tensors(self.gaussian_optimizer, "optimizer.gaussians")
        out |= optimizer_tensors(self.other_optimizer, "optimizer.other")
        out |= {"strategy.grad_sum": self.strategy.grad_sum, "strategy.seen": self.strategy.seen}
        out["strategy.generator"] = self.strategy.generator.get_state()
        return out

    def save(self) -> Path:
        """Write the checkpoint of the current step; returns its JSON path."""
        meta = {
            "step": self.step,
            "seconds": self.seconds,
            "gaussians": len(self.state.params["triangle"]),
            "frame_generator": self.frame_generator.bit_generator.state,
            "config": asdict(self.config),
        }
        return save_checkpoint(self.run / "checkpoints", f"step_{self.step:07d}", self.tensors(), meta)

    def resume(self, json_path: Path) -> None:
        """Continue exactly where the checkpoint left off."""
        tensors, meta = load_checkpoint(json_path)
        load_avatar_tensors(self.state, tensors)
        self._make_optimizers()
        restore_optimizer(self.gaussian_optimizer, tensors, "optimizer.gaussians")
        restore_optimizer(self.other_optimizer, tensors, "optimizer.other")
        self.strategy.grad_sum, self.strategy.seen = tensors["strategy.grad_sum"], tensors["strategy.seen"]
        self.strategy.generator.set_state(tensors["strategy.generator"])
        self.frame_generator.bit_generator.state = meta["frame_generator"]
        self.step, self.seconds = meta["step"], meta["seconds"]


SETTINGS_BEFORE_THEY_EXISTED = {"still_torso": False, "complete_unseen": False, "mask_weight": 0.0}
"""How runs saved before these settings existed were trained (so they evaluate as trained)."""


def config_from_dict(values: dict) -> TrainConfig:
    """The inverse of ``dataclasses.asdict`` for :class:`TrainConfig`."""
    values = {**SETTINGS_BEFORE_THEY_EXISTED, **values}
    return TrainConfig(**{**values, "strategy": StrategyConfig(**values["strategy"])})


def train_run(
    subject_path: str | Path,
    run: str | Path,
    config: TrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    steps: int | None = None,
    log=lambda m: print(m, file=sys.stderr, flush=True),
) -> dict:
    """``headsplat train``: train into a run folder, or continue its last checkpoint.

    With ``resume`` the settings are the checkpoint's, except ``steps`` when given (to extend a run).

    Raises:
        InputError: the run folder exists (without ``resume`` / ``overwrite``), or ``resume`` finds
            no checkpoint.
    """
    run = Path(run)
    checkpoints = run / "checkpoints"
    if resume:
        latest = latest_checkpoint(checkpoints)
        if latest is None:
            raise InputError(f"{run}: no checkpoint to resume from. Start the run without --resume.")
        config = config_from_dict(json.loads(latest.read_text())["config"])
        config.steps = steps or config.steps
    elif run.exists() and any(run.iterdir()):
        if not overwrite:
            raise InputError(
                f"{run}: already exists. Pass --resume to continue it or --overwrite to restart it."
            )
        if not (run / "config.json").is_file():
            raise InputError(
                f"{run}: exists and is not a headsplat run (no config.json); refusing to overwrite it."
            )
        shutil.rmtree(checkpoints, ignore_errors=True)
    trainer = Trainer(subject_path, config, run=run)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(
        json.dumps({"subject": str(Path(subject_path).resolve()), **asdict(config)}, indent=2)
    )
    if resume:
        trainer.resume(latest)
        log(f"resumed {run} at step {trainer.step}")
    summary = trainer.fit(progress=True)
    log(f"trained {summary['gaussians']} Gaussians in {summary['seconds'] / 60:.1f} min -> {run}")
    return summary


def train(
    subject_path: str | Path,
    config: TrainConfig | None = None,
    model: HeadModel | None = None,
    progress: bool = False,
) -> tuple[AvatarState, TrainingData, dict]:
    """Train an avatar in memory; returns its state, the data and a summary."""
    trainer = Trainer(subject_path, config or TrainConfig(), model)
    summary = trainer.fit(progress)
    return trainer.state, trainer.data, summary


@torch.no_grad()
def evaluate_psnr(state: AvatarState, data: TrainingData, frames: np.ndarray, background: float) -> float:
    """Mean PSNR of the renders of ``frames`` against their masked targets."""
    size = data.images.shape[1]
    values = [
        float(psnr(state.render(int(f), data.K, size, background).image, data.target(int(f), background)))
        for f in frames
    ]
    return float(np.mean(values))
