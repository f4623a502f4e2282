"""The run config: one documented dataclass per mechanism, nested, saved with every run
(``RUN/config.json``), every field settable from the command line (``--set SECTION.FIELD=VALUE``,
:mod:`headsplat.io.settings`).

    RunConfig
      size, steps, seed, background, device, log_every, checkpoint_every
      loss        LossConfig              image terms (headsplat.training.losses)
      avatar      AvatarConfig            gaussians, mesh_deformers{...}, gaussian_deformers{...}
      geometry    GeometryConfig          the surface fitted to the masks first (training.geometry)
      frames      FrameCorrectionsConfig  per-frame tracking corrections (training data)
      mirrored    MirroredFramesConfig    training frames mirrored left to right (training data)
      uv_colour_prior  UVColourPriorConfig  colours seen edge-on pulled to their mirror's (training)
      strategy    {name: config}          densification, one (registry: headsplat.strategy.STRATEGIES)
      completion  {name: config}          post-training hook, one or none (training.completion.COMPLETIONS)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from headsplat.avatar.avatar import AvatarConfig
from headsplat.avatar.gaussians.store import GaussianConfig
from headsplat.io.errors import InputError
from headsplat.io.settings import from_dict, registry_field
from headsplat.strategy import STRATEGIES, SamplingConfig
from headsplat.training.completion import COMPLETIONS, HarmonicConfig
from headsplat.training.frames import FrameCorrectionsConfig
from headsplat.training.geometry import GeometryConfig
from headsplat.training.losses import LossConfig
from headsplat.training.mirrored import MirroredFramesConfig
from headsplat.training.uv_colour_prior import UVColourPriorConfig


@dataclass
class RunConfig:
    """Everything a run is trained with; the defaults fit 2 CPU cores at 256 x 256."""

    size: int = 256
    """Side of the training images in pixels."""
    steps: int = 2000
    """At 256 px on 2 cores: 5-10 minutes. More steps fit the training frames better and raise
    held-out PSNR little for their time (measurements: docs/quality.md, section
    "`training.config.RunConfig.steps`")."""
    lr_decay_from: float = 1.0
    """Fraction of the steps after which every learning rate decays exponentially, to ``lr_end``
    times its value at the last step (1.0: constant rates). One random frame per step makes the
    last steps' parameters lean towards the last frames seen; a decaying rate averages them, as
    3DGS's decaying position rate does. Off: from half-way down to 0.1 it cost a little on the
    training frames and held out: at 2000 steps the frames are not fitted yet (measurements:
    docs/quality.md, section "`training.config.RunConfig.lr_decay_from`")."""
    lr_end: float = 0.1
    seed: int = 0
    background: float = 1.0
    """Grey level the masked frames are composited onto (and the renderer's background)."""
    device: str = "cpu"
    """``cpu`` (numba rasterizer) or ``cuda`` (gsplat rasterizer; ``pip install headsplat[cuda]``)."""
    log_every: int = 50
    """Without a terminal, a progress line every this many steps."""
    checkpoint_every: int = 500
    loss: LossConfig = field(default_factory=LossConfig)
    avatar: AvatarConfig = field(default_factory=AvatarConfig)
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    frames: FrameCorrectionsConfig = field(default_factory=FrameCorrectionsConfig)
    mirrored: MirroredFramesConfig = field(default_factory=MirroredFramesConfig)
    uv_colour_prior: UVColourPriorConfig = field(default_factory=UVColourPriorConfig)
    strategy: dict[str, Any] = registry_field(STRATEGIES, {"sampling": SamplingConfig()}, choose="one")
    """The densification strategy: one registered name and its settings."""
    completion: dict[str, Any] = registry_field(
        COMPLETIONS, {"harmonic": HarmonicConfig()}, choose="at_most_one"
    )
    """The post-training completion, or none (``{}``)."""

    def validate(self) -> RunConfig:
        """Check the values :mod:`headsplat.io.settings` cannot; returns self.

        Raises:
            InputError: a value out of its choices, with the known ones.
        """
        for options in self.completion.values():
            options.validate()
        self.uv_colour_prior.validate()
        if self.device.split(":")[0] not in ("cpu", "cuda"):
            raise InputError(f"unknown device {self.device!r}; use cpu or cuda")
        return self


def run_config_from_dict(values: dict) -> RunConfig:
    """The inverse of :func:`headsplat.io.settings.to_dict` for :class:`RunConfig`; a config
    recorded before strategies and completions were registered slots is upgraded
    (:func:`upgraded_slots`)."""
    return from_dict(RunConfig, upgraded_slots(values)).validate()


def upgraded_slots(values: dict) -> dict:
    """``values`` (a recorded run config) with a flat ``strategy`` / ``completion`` section (its
    ``name`` beside every mechanism's fields, as runs recorded them until strategies were
    registered) as a one-entry slot: the named mechanism with the fields it has (the other
    mechanisms' fields were ignored by those runs too); ``none`` is no completion."""
    values = dict(values)
    for slot, registry in (("strategy", STRATEGIES), ("completion", COMPLETIONS)):
        flat = values.get(slot)
        if not isinstance(flat, dict) or not isinstance(flat.get("name"), str):
            continue
        name = flat["name"]
        if name == "none" or name not in registry:
            values[slot] = {} if name == "none" else {name: {}}  # an unknown name is refused with the known
            continue
        own = {f.name for f in dataclasses.fields(registry[name].Config)}
        values[slot] = {name: {key: value for key, value in flat.items() if key in own}}
    return values


def _fewshot() -> RunConfig:
    config = RunConfig(
        mirrored=MirroredFramesConfig(share=0.25),
        uv_colour_prior=UVColourPriorConfig(weight=1.0),
        completion={"harmonic": HarmonicConfig(mirror=True)},
    )
    config.avatar.mesh_deformers["personal_blendshapes"].learn_expressions = False
    return config


PRESETS = {
    "cpu": RunConfig(),
    "fewshot": _fewshot(),
    "gpu": RunConfig(
        size=512,
        steps=30_000,
        device="cuda",
        log_every=500,
        loss=LossConfig(lpips_weight=0.05, lpips_start=15_000),
        avatar=AvatarConfig(gaussians=GaussianConfig(texels_per_cm=3.0)),
        strategy={"sampling": SamplingConfig(start=500, every=500, add=5000, max_gaussians=300_000)},
    ),
}
"""``headsplat train --preset``: ``cpu`` fits 2 cores at 256 px (about 10 minutes); ``gpu`` trains
at 512 px for 30k steps with a larger densification budget and FlashAvatar's LPIPS schedule
(VGG, weight 0.05 from step 15k; its train.py); ``fewshot`` is ``cpu`` for a few frames (at most
:data:`FEWSHOT_FRAMES`: chosen by itself there): the head model's expressions kept as they are
(``personal_blendshapes.learn_expressions`` off; the neutral shape's correction still learns,
smooth), a quarter of the steps on mirrored frames (``mirrored.share`` 0.25), the UV colour
prior (``uv_colour_prior.weight`` 1) and symmetric completion (``completion.harmonic.mirror``).
Frame corrections stay off and no deformer follows the expression, as in ``cpu``."""
FEWSHOT_FRAMES = 10
"""A subject with this many training frames or fewer trains with the ``fewshot`` preset unless
``--preset`` names another."""
