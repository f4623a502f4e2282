"""FATE's neural baking (Zhang et al., CVPR 2025, §3.3; supplementary §7.3, §8.4): after training,
a BakeNet learns UV maps of the Gaussians' attributes, and every Gaussian reads its attributes at
its UV point (bilinear). Two stages, as FATE found better than one:

1. **fit**: the maps, sampled at the Gaussians' UV points, regress the trained attributes
   (L1 normalised by each channel's spread);
2. **refine**: the maps are tuned through the renderer with training's image loss on the training
   frames (at the poses the run trained on), plus ``regularisation`` x the fit loss (FATE's
   attribute regularisation: between appearance-only and full baking in its trade-off).

The layout is soft binding's atlas (:mod:`headsplat.avatar.gaussians.uv_atlas`: one square tile
per material); only the tiles of materials that hold Gaussians are computed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Condition
from headsplat.avatar.gaussians.uv_atlas import gaussians_in_atlas, in_tiles, sample_atlas
from headsplat.baking.attributes import MODES, AttributeCodec, store_values, values_to_columns
from headsplat.baking.bakenet import BakeNet, fixed_noise
from headsplat.io.checkpoint import Parts, optimizer_tensors, restore_optimizer
from headsplat.training.data import FrameData
from headsplat.training.losses import LossConfig, image_losses


@dataclass
class BakeConfig:
    """``headsplat bake`` settings (CPU by default; :data:`BAKE_PRESETS`)."""

    mode: str = "all"
    """``all``: every attribute from the maps; ``appearance``: colour and opacity (geometry kept)."""
    resolution: int = 128
    """Texels per side of each material's tile. 256 gained nothing on 2 cores for over twice the
    time; time is better spent on refinement steps (measurements: docs/quality.md, section "FATE's
    neural baking (`headsplat bake`): settings measured")."""
    channels: tuple[int, ...] = (16, 32, 64, 128)
    """BakeNet's widths per level, finest first (FATE: 64 ... 1024 at 512 px)."""
    noise_channels: int = 8
    fit_steps: int = 300
    """Stage 1: regress the trained attributes."""
    refine_steps: int = 1500
    """Stage 2: through the renderer on the training frames; the renders were still improving at
    600 steps (about 0.3 s a step on 2 cores; measurements: docs/quality.md, section "FATE's neural
    baking (`headsplat bake`): settings measured")."""
    lr: float = 2e-3
    regularisation: float = 0.0
    """Weight of the fit loss during stage 2 (FATE's attribute regularisation; 0: off)."""
    seed: int = 0
    checkpoint_every: int = 200
    loss: LossConfig = field(default_factory=LossConfig)

    @property
    def steps(self) -> int:
        return self.fit_steps + self.refine_steps

    def validate(self) -> BakeConfig:
        if self.mode not in MODES:
            raise ValueError(f"unknown bake mode {self.mode!r}; choose one of {', '.join(MODES)}")
        multiple = 2 ** (len(self.channels) - 1)
        if self.resolution % multiple:
            raise ValueError(
                f"resolution {self.resolution} must be a multiple of {multiple} (BakeNet's levels)"
            )
        return self


BAKE_PRESETS = {
    "cpu": BakeConfig(),
    "gpu": BakeConfig(resolution=512, channels=(64, 128, 256, 512, 1024), fit_steps=2000, refine_steps=6000),
}


class Baker:
    """Bakes ``avatar``'s Gaussians into maps, resumably (:meth:`state` / :meth:`restore`).

    Args:
        avatar: the trained avatar (frozen; its Gaussian columns are what stage 1 regresses).
        data: the subject's frames at the avatar's size (the training frames are used).
        corrections: the run's training-frame corrections (``rotation``, ``translation``,
            ``expression``, (F, ...)), or None: the poses the run trained on.
    """

    def __init__(self, avatar: Avatar, data: FrameData, config: BakeConfig, corrections: dict | None = None):
        self.config = config.validate()
        self.avatar = avatar
        self.data = data.with_torso(avatar.rest_pose())
        self.corrections = corrections
        self.train_frames, _ = data.subject.split()
        store, head = avatar.gaussians, avatar.head
        self.codec = AttributeCodec.fit(store, config.mode)
        with torch.no_grad():
            self.target = store_values(store, self.codec.groups)
        self.n_materials = len(head.info["material_names"])
        used = torch.unique(head.triangle_material[store.triangle]).tolist()
        self.tiles = [int(m) for m in used]
        self.grid = in_tiles(gaussians_in_atlas(head, store, config.resolution), self.tiles, self.n_materials)
        torch.manual_seed(config.seed)
        self.net = BakeNet(self.codec.channels, config.channels, config.noise_channels).to(avatar.device)
        self.noise = fixed_noise(len(self.tiles), config.noise_channels, config.resolution, config.seed)
        self.noise = self.noise.to(avatar.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.frame_generator = np.random.default_rng(config.seed)
        self.step = 0
        self.seconds = 0.0

    # ------------------------------------------------------------------ maps

    def raw_tiles(self) -> Tensor:
        """(C, R, S * R) the network's raw output: the S computed tiles side by side."""
        tiles = self.net(self.noise)
        S, C, R, _ = tiles.shape
        return tiles.permute(1, 2, 0, 3).reshape(C, R, S * R)

    def values(self) -> Tensor:
        """(N, C) each Gaussian's attribute values read (bilinearly) from the value maps at its UV
        point: decoded per texel first, so that the baked avatar is exactly what its exported maps
        give."""
        return sample_atlas(self.codec.decode(self.raw_tiles(), dim=0), self.grid)

    @torch.no_grad()
    def maps(self) -> Tensor:
        """(C, R, M * R) the attribute maps' values (:mod:`headsplat.baking.attributes`) laid out as
        the whole atlas (the tiles not computed: the decoding of zero, the mean attributes)."""
        R = self.config.resolution
        raw = self.raw_tiles()
        atlas = raw.new_zeros(self.codec.channels, R, self.n_materials * R)
        for slot, material in enumerate(self.tiles):
            atlas[:, :, material * R : (material + 1) * R] = raw[:, :, slot * R : (slot + 1) * R]
        return self.codec.decode(atlas, dim=0)

    def fit_loss(self, values: Tensor) -> Tensor:
        """Mean L1 between ``values`` (N, C) and the trained attributes, per channel over its spread."""
        return ((values - self.target).abs() / self.codec.std.to(values)).mean()

    # ------------------------------------------------------------------ steps

    def condition(self, f: int) -> Condition:
        condition = self.data.condition(f)
        c = self.corrections
        if c is None:
            return condition
        return condition.corrected(c["rotation"][f], c["translation"][f], c["expression"][f])

    def train_step(self) -> dict[str, float]:
        """One step of stage 1 or 2 (by :attr:`step`); returns its losses."""
        self.step += 1
        values = self.values()
        fit = self.fit_loss(values)
        parts = {"fit": fit}
        if self.step <= self.config.fit_steps:
            total = fit
        else:
            f = int(self.frame_generator.choice(self.train_frames))
            background = self.avatar.info["background"]
            with self.avatar.gaussians.columns_from(values_to_columns(values, self.codec.groups)):
                rendering = self.avatar.render(self.condition(f), background=background)
            target = self.data.target(f, background)
            image = image_losses(
                rendering, target, self.data.alpha(f), config=self.config.loss, lpips=None, step=self.step
            )
            total = sum(weight * value for weight, value in image.values()) + self.config.regularisation * fit
            parts |= {name: value for name, (_, value) in image.items()}
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return {
            "loss": float(total.detach()),
            **{name: float(value.detach()) for name, value in parts.items()},
        }

    def fit(self, progress=None, checkpoint=None) -> None:
        """Run to ``config.steps``; ``progress(step, losses, seconds)`` after each step and
        ``checkpoint()`` every ``checkpoint_every`` steps and at the end."""
        start = time.perf_counter() - self.seconds
        while self.step < self.config.steps:
            losses = self.train_step()
            self.seconds = time.perf_counter() - start
            if progress is not None:
                progress(self.step, losses, self.seconds)
            if checkpoint is not None and (
                self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps
            ):
                checkpoint()

    @torch.no_grad()
    def baked_columns(self) -> dict[str, Tensor]:
        """The store columns the maps give (the baked avatar's), read from :meth:`maps` exactly as
        ``edit`` reads the exported maps (an unedited round trip is then exact)."""
        return columns_from_maps(self.avatar, self.maps(), self.codec)

    # ------------------------------------------------------------------ checkpoints

    def state(self) -> Parts:
        """What a resumed bake needs, by part: the network with the baker's counters and codec,
        and its optimizer's moments (live tensors: write them at once)."""
        counters = {
            "step": self.step,
            "seconds": self.seconds,
            "frame_generator": self.frame_generator.bit_generator.state,
            "codec": self.codec.state(),
        }
        return {
            "bake": (self.net.state_dict(), counters),
            "bake_optimizer": (optimizer_tensors(self.optimizer), {}),
        }

    def restore(self, parts: Parts) -> None:
        """Continue where a checkpoint's ``parts`` (of :meth:`state`) left off."""
        tensors, counters = parts["bake"]
        self.net.load_state_dict(tensors)
        restore_optimizer(self.optimizer, parts["bake_optimizer"][0])
        self.codec = AttributeCodec.from_state(counters["codec"])
        self.frame_generator.bit_generator.state = counters["frame_generator"]
        self.step, self.seconds = counters["step"], counters["seconds"]


def columns_from_maps(avatar: Avatar, maps: Tensor, codec: AttributeCodec) -> dict[str, Tensor]:
    """The store columns value ``maps`` (C, R, M * R) give ``avatar``'s Gaussians."""
    grid = gaussians_in_atlas(avatar.head, avatar.gaussians, maps.shape[1])
    return values_to_columns(sample_atlas(maps.to(grid), grid), codec.groups)
