"""The optimisation of one avatar against a subject's training frames, resumable exactly.

Each step draws a training frame, renders its condition, and adds the image terms
(:mod:`headsplat.training.losses`) to every avatar module's regularisers; one Adam holds the
per-Gaussian groups (replaced by row operations), a fused one the rest. The strategy's hooks run
around the step; after the last step the post-training hook (completion) runs. The trainer names
no module: it loops over :meth:`headsplat.avatar.Avatar.learnable_modules`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Condition
from headsplat.avatar.modules import LossContext
from headsplat.head.mirror import mirror_order
from headsplat.io.checkpoint import Parts, optimizer_tensors, restore_optimizer
from headsplat.io.errors import InputError
from headsplat.io.progress import ProgressBar
from headsplat.io.settings import to_dict
from headsplat.metrics import LPIPS, psnr
from headsplat.render import Rendering, gsplat_available
from headsplat.strategy import StepContext, make_strategy
from headsplat.strategy.frame_clusters import motion_features
from headsplat.training.align import align_poses
from headsplat.training.completion import HookContext, make_completion, spread_evenly
from headsplat.training.config import RunConfig
from headsplat.training.data import FrameData
from headsplat.training.frames import FrameCorrections
from headsplat.training.losses import image_losses
from headsplat.training.mirrored import mirrored_camera, mirrored_image
from headsplat.training.sanity import check_sanity
from headsplat.training.uv_colour_prior import UVColourPrior


def check_device(device: str) -> None:
    """Raise a clear error when ``device`` cannot train here.

    Raises:
        InputError: no CUDA GPU, or CUDA without gsplat.
    """
    kind = torch.device(device).type
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"device {device!r} is not available on this machine (torch sees no CUDA GPU); "
            "train with --preset cpu, or on a machine with a GPU and `pip install headsplat[cuda]`."
        )
    if kind == "cuda" and not gsplat_available():
        raise InputError(
            "training on CUDA needs gsplat, which is not installed: `pip install headsplat[cuda]` "
            "(or train with --preset cpu)."
        )


def make_optimizers(modules: dict[str, torch.nn.Module]) -> list[torch.optim.Optimizer]:
    """Adam over every module's :meth:`~headsplat.avatar.modules.AvatarModule.param_groups`, the
    group names prefixed with the module's: one unfused Adam for the per-Gaussian groups (row
    operations replace their tensors), one fused Adam for the rest (one kernel per step instead of
    a dozen tensor passes: the 4.2M-entry blendshape correction made Adam a quarter of a CPU
    step). A group with rate 0 is frozen (requires_grad off) and left out.
    """
    per_gaussian, other = [], []
    for prefix, module in modules.items():
        for group in module.param_groups():
            if group.lr == 0:
                for param in group.params:
                    param.requires_grad_(False)
                continue
            entry = {"params": group.params, "lr": group.lr, "name": f"{prefix}.{group.name}"}
            entry |= {"weight_decay": group.weight_decay, "eps": group.eps}
            (per_gaussian if group.per_gaussian else other).append(entry)
    optimizers = [torch.optim.Adam(per_gaussian)] if per_gaussian else []
    if other:
        optimizers.append(torch.optim.Adam(other, fused=True))
    return optimizers


def lr_factor(step: int, steps: int, decay_from: float, end: float) -> float:
    """The learning rates' multiplier at ``step`` of ``steps``: 1 up to ``decay_from * steps``,
    then exponential down to ``end`` at the last step."""
    start = decay_from * steps
    if step <= start or decay_from >= 1:
        return 1.0
    return end ** ((step - start) / (steps - start))


class Trainer:
    """Trains ``avatar`` on ``data``'s training frames with ``config``.

    Args:
        data: the subject's frames at ``config.size``. avatar: new, or restored from a checkpoint
            (then call :meth:`restore` with the same checkpoint).
    """

    def __init__(self, data: FrameData, avatar: Avatar, config: RunConfig):
        check_device(config.device)
        torch.manual_seed(config.seed)
        self.config = config
        self.avatar = avatar.to(config.device)
        self.data = data.with_torso(avatar.rest_pose()).to(config.device)
        self.camera = self.data.camera()
        self.mirrored_camera = mirrored_camera(self.camera)  # the camera a mirrored frame is seen by
        self.train_frames, _ = data.subject.split()
        self.train_frame_index = torch.as_tensor(self.train_frames, device=config.device)
        n_expression = len(avatar.expression_names)
        code = config.avatar.gaussian_deformers.get("frame_code")
        self.frames = FrameCorrections(data.subject.n_frames, n_expression, config.frames, code=code)
        self.frames.to(config.device)
        self.strategy = make_strategy(config.strategy, config.size)
        tracked = (data.expression[self.train_frames], data.rotation[self.train_frames])
        motion = motion_features(*(t.cpu().numpy() for t in tracked))
        planned = self.strategy.plan(self.train_frames, motion, config.steps, config.seed)
        if planned:
            self.avatar.info["training"]["strategy"] = planned
        self.strategy_state = self.strategy.initialize_state(
            len(avatar.gaussians), config.device, config.seed
        )
        self.completion = make_completion(config.completion)
        self.uv_colour_prior = None
        if config.uv_colour_prior.weight > 0:
            measured = spread_evenly(self.train_frames, config.uv_colour_prior.frames)
            conditions = [self.data.condition(int(f)) for f in measured]
            self.uv_colour_prior = UVColourPrior.measure(
                config.uv_colour_prior, avatar, conditions, self.camera
            )
        self.lpips = LPIPS("vgg").to(config.device) if config.loss.lpips_weight > 0 else None
        self.step = 0
        self.seconds = 0.0
        self.frame_generator = np.random.default_rng(config.seed)
        self.expression_mirror = torch.as_tensor(mirror_order(avatar.expression_names), device=config.device)
        self.optimizers = self._make_optimizers()
        self.base_lrs = [[group["lr"] for group in o.param_groups] for o in self.optimizers]

    # ------------------------------------------------------------------ optimizers

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every module with learnable tensors, by checkpoint prefix."""
        return {name: module for name, module in self.avatar.learnable_modules()} | {"frames": self.frames}

    def _make_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers = make_optimizers(self.modules())
        check_sanity(self.modules(), optimizers)
        return optimizers

    # ------------------------------------------------------------------ one step

    def condition(self, f: int) -> Condition:
        """Training frame f's condition: its tracking with the frame's corrections."""
        return self.frames.apply(f, self.data.condition(f))

    def loss(
        self, f: int, *, mirrored: bool = False
    ) -> tuple[Tensor, dict[str, Tensor], Rendering, Tensor, Condition]:
        """Total loss, its parts, the rendering, the target and the condition of frame f, or of
        its mirror image (:mod:`headsplat.training.mirrored`) at ``config.mirrored.weight``."""
        c = self.config
        condition, camera = self.condition(f), self.camera
        target, alpha = self.data.target(f, c.background), self.data.alpha(f)
        if mirrored:
            condition, camera = condition.mirrored(self.expression_mirror), self.mirrored_camera
            target, alpha = mirrored_image(target), mirrored_image(alpha)
        out = self.avatar.render(condition, camera, c.background)
        parts = image_losses(out, target, alpha, config=c.loss, lpips=self.lpips, step=self.step)
        ctx = LossContext(self.step, condition, out, self.avatar)
        for prefix, module in self.avatar.learnable_modules():
            for name, term in module.losses(ctx).items():
                parts[f"{prefix}.{name}" if name in parts else name] = term
        if self.uv_colour_prior is not None:
            parts["uv_colour_prior"] = (
                c.uv_colour_prior.weight,
                self.uv_colour_prior.loss(self.avatar.gaussians),
            )
        total = sum(weight * value for weight, value in parts.values())
        if mirrored:
            total = c.mirrored.weight * total
        return total, {name: value for name, (_, value) in parts.items()}, out, target, condition

    @property
    def align_step(self) -> int | None:
        """The step after which the training frames' poses are aligned (None: never)."""
        at = self.config.frames.align_at
        return max(1, round(at * self.config.steps)) if at > 0 else None

    def align(self) -> dict[str, float]:
        """Align every training frame's pose to its image (:mod:`headsplat.training.align`)."""
        report = align_poses(
            self.avatar,
            self.data,
            self.train_frames,
            corrections=self.frames,
            background=self.config.background,
        )
        self.avatar.info["training"]["alignment"] = {k: round(v, 4) for k, v in report.items()}
        return report

    def train_step(self) -> dict[str, float]:
        """One optimisation step on a random training frame; returns the losses and PSNR."""
        f = int(self.frame_generator.choice(self.train_frames))
        # Drawn only when on, so a run without mirrored frames draws the frames it always drew.
        mirrored = (
            self.config.mirrored.share > 0 and self.frame_generator.random() < self.config.mirrored.share
        )
        self.step += 1
        total, parts, out, target, condition = self.loss(f, mirrored=mirrored)
        ctx = StepContext(
            self.step,
            f,
            condition,
            self.mirrored_camera if mirrored else self.camera,
            out,
            target,
            self.avatar,
            self.strategy_state,
            self.optimizers,
        )
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        self.strategy.step_pre_backward(ctx)
        total.backward()
        factor = lr_factor(self.step, self.config.steps, self.config.lr_decay_from, self.config.lr_end)
        for optimizer, base_lrs in zip(self.optimizers, self.base_lrs, strict=True):
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * factor
            optimizer.step()
        if self.frames.learned:
            self.frames.project_(self.data.expression, self.train_frame_index)
        self.strategy.step_post_backward(ctx)
        with torch.no_grad():
            quality = float(psnr(out.image, target))
        return {"loss": total.item(), **{k: v.item() for k, v in parts.items()}, "psnr": quality}

    def change_rows(self, keep=None, appended=None, parents=None):
        """The run's row operation: the avatar, the optimizers and the strategy's statistics."""
        return self.avatar.change_rows(
            keep, appended, parents, optimizers=self.optimizers, states=(self.strategy_state,)
        )

    def after_training(self) -> dict[str, int] | None:
        """Run the post-training hook (completion) on the training frames."""
        if self.completion is None:
            return None
        ctx = HookContext(self.avatar, self.train_frames, self.condition, self.camera, self.change_rows)
        return self.completion.after_training(ctx)

    # ------------------------------------------------------------------ the loop

    def fit(self, *, progress: bool = False, checkpoint: Callable[[], object] | None = None) -> dict:
        """Train up to ``config.steps``, calling ``checkpoint`` every ``config.checkpoint_every``
        steps and at the end (with a progress bar on stderr); returns a summary. The training
        frames' poses are aligned once, at :attr:`align_step`, when the config asks for it."""
        c = self.config
        start = time.perf_counter() - self.seconds
        bar = ProgressBar(c.steps, self.step, log_every=c.log_every) if progress else None
        while self.step < c.steps:
            if self.step == self.align_step:
                moved = self.align()
                if progress:
                    message = (
                        f"aligned the training frames' poses: {moved['rotation_deg']:.2f} deg, "
                        f"{moved['translation_cm']:.2f} cm mean change"
                    )
                    print(message, file=sys.stderr, flush=True)
            metrics = self.train_step()
            if self.step == c.steps:
                completed = self.after_training()
                if progress and completed:
                    removed, added = completed["removed"], completed["added"]
                    message = f"completion: {removed} unseen Gaussians removed, {added} added"
                    if completed.get("mirrored"):
                        message += f" ({completed['mirrored']} of them mirrored from the seen side)"
                    print(message, file=sys.stderr, flush=True)
            self.seconds = time.perf_counter() - start
            if bar is not None:
                fields = {
                    "loss": f"{metrics['loss']:.4f}",
                    "psnr": f"{metrics['psnr']:.2f}",
                    "gaussians": str(len(self.avatar.gaussians)),
                }
                bar.update(self.step, fields, self.seconds)
            if checkpoint is not None and (self.step % c.checkpoint_every == 0 or self.step == c.steps):
                checkpoint()
        return {"steps": self.step, "seconds": self.seconds, "gaussians": len(self.avatar.gaussians)}

    # ------------------------------------------------------------------ checkpoints

    def summarise(self) -> None:
        """Record the training so far in the avatar's info (saved with it)."""
        self.avatar.info["training"] |= {
            "steps": self.step,
            "seconds": self.seconds,
            "subject": self.data.subject.fingerprint,
        }

    def state(self) -> Parts:
        """Everything a resumed run needs, by part (:mod:`headsplat.io.checkpoint`): the avatar,
        the training frames' corrections, the strategy's statistics, the optimizers' moments and
        the trainer's own counters. The tensors are the live ones, which the next step changes:
        write them at once, or copy them to keep them."""
        self.summarise()
        optimizers = {}
        for optimizer in self.optimizers:
            optimizers |= optimizer_tensors(optimizer)
        counters = {
            "step": self.step,
            "seconds": self.seconds,
            "gaussians": len(self.avatar.gaussians),
            "frame_generator": self.frame_generator.bit_generator.state,
            "config": to_dict(self.config),
        }
        return {
            "avatar": (self.avatar.state_dict(), self.avatar.metadata()),
            "frames": (self.frames.state_dict(), {}),
            "strategy": (self.strategy_state.state_dict(), {}),
            "optimizer": (optimizers, {}),
            "trainer": (self._own_tensors(), counters),
        }

    def _own_tensors(self) -> dict[str, Tensor]:
        """The trainer's tensors a resumed run needs: the UV colour prior's footprints, measured on
        the avatar as it was made."""
        return {} if self.uv_colour_prior is None else {"footprint": self.uv_colour_prior.footprint}

    def restore(self, parts: Parts) -> None:
        """Continue exactly where a checkpoint's ``parts`` left off (the avatar was built from
        them: :func:`~headsplat.avatar.avatar.avatar_from_parts`)."""
        self.frames.load_state_dict(parts["frames"][0])
        for optimizer in self.optimizers:
            restore_optimizer(optimizer, parts["optimizer"][0])
        self.strategy_state.load_state_dict(parts["strategy"][0], self.config.device)
        tensors, counters = parts["trainer"]
        if self.uv_colour_prior is not None and "footprint" in tensors:
            prior = self.uv_colour_prior
            self.uv_colour_prior = UVColourPrior(
                prior.config, prior.head, tensors["footprint"].to(self.config.device)
            )
        self.frame_generator.bit_generator.state = counters["frame_generator"]
        self.step, self.seconds = counters["step"], counters["seconds"]
        check_sanity(self.modules(), self.optimizers)
        self.strategy_state.check(len(self.avatar.gaussians))
