"""The worked example of docs/architecture.md, "Adding a mechanism": a toy Gaussian deformer in one
file (here, this test), registered by name, chosen from the command line, trained two steps with
densification on, saved with the avatar and loaded back. Nothing else in headsplat changes."""

from dataclasses import dataclass

import torch
from torch import nn

from headsplat.avatar import load_avatar
from headsplat.avatar.deformers import GaussianDeformer, register_gaussian_deformer
from headsplat.avatar.gaussians.rows import replace_parameter
from headsplat.avatar.modules import ParamGroup
from tests.avatar.helpers import train_with_deformer


@dataclass
class ToyTintConfig:
    lr: float = 0.05
    """Adam's rate for the tints."""
    strength: float = 1.0
    """How much of the tint reaches the colour."""
    weight: float = 0.1
    """Weight of the regulariser that keeps tints small."""


@register_gaussian_deformer("toy_tint")
class ToyTint(GaussianDeformer):
    """A learnable RGB offset per Gaussian: per-Gaussian state, so it must follow row operations."""

    Config = ToyTintConfig

    def __init__(self, config: ToyTintConfig, build):
        super().__init__()
        self.config = config
        self.tint = nn.Parameter(torch.zeros(build.n_gaussians, 3, device=build.head.neutral.device))

    def forward(self, gaussians, ctx):
        return gaussians._replace(colours=gaussians.colours + self.config.strength * self.tint)

    def param_groups(self):
        return [ParamGroup("tint", [self.tint], self.config.lr, per_gaussian=True)]

    def losses(self, ctx):
        return {"tint_size": (self.config.weight, self.tint.pow(2).mean())}

    def apply_row_change(self, change, optimizers):
        # Children inherit their parent's tint; fresh rows (completion) start at zero.
        replace_parameter(
            self,
            "tint",
            change.apply(self.tint.detach(), inherit=True),
            optimizers=optimizers,
            change=change,
        )


def test_a_registered_gaussian_deformer_trains_follows_densification_and_is_saved(
    synthetic_subject, ict_model, tmp_path, monkeypatch
):
    monkeypatch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
    run = tmp_path / "run"
    assert (
        train_with_deformer(
            synthetic_subject, run, "toy_tint", 2, "avatar.gaussian_deformers.toy_tint.strength=0.5"
        )
        == 0
    )
    avatar = load_avatar(run)  # rebuilt from the registry and the saved config
    toy = avatar.gaussian_deformers["toy_tint"]
    assert isinstance(toy, ToyTint) and toy.config.strength == 0.5
    # One row per Gaussian after two densifications and completion, and trained (not zero).
    assert toy.tint.shape == (len(avatar.gaussians), 3)
    assert toy.tint.abs().sum() > 0
    before = avatar.render(avatar.condition()).image
    with torch.no_grad():
        toy.tint.zero_()
    assert not torch.equal(before, avatar.render(avatar.condition()).image)  # it acts on the render
