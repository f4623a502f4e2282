"""The avatar's state: the head model with its personal corrections, the tracking, and the
Gaussians bound to the mesh; its renders, and the completion of what the training frames never show.

Args shared by the renders: K (3, 3) intrinsics, ``size`` the square image side in pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from headsplat.avatar.deformers.head import FrameCorrections, PersonalisedHead, torso_pose
from headsplat.avatar.gaussians.attributes import (
    LEARNED,
    initial_gaussians,
    rgb_to_sh0,
    sh0_to_rgb,
    world_gaussians,
)
from headsplat.avatar.gaussians.completion import fill_colours, unseen
from headsplat.avatar.gaussians.store import Params, update_rows
from headsplat.avatar.gaussians.uv_sampling import material_density, sample_uv
from headsplat.head import HeadModel
from headsplat.io.subject import Subject
from headsplat.render import rasterize

NECK_CM = (-8.0, -18.0)
"""ICT model heights (cm) where the neck starts to bend (below the chin) and ends (collarbones)."""
FRESH_OPACITY, PROBE_OPACITY = 0.95, 0.05
"""Opacity of the Gaussians completion adds, and the faint one they are tested at (rasterizers
skip alphas under 1/255, so the probe cannot be infinitesimal)."""


class AvatarState:
    """Everything that is optimised: Gaussians, personal head corrections, per-frame corrections."""

    def __init__(
        self,
        model: HeadModel,
        subject: Subject,
        texels_per_cm: float = 2.0,
        device: str = "cpu",
        still_torso: bool = True,
    ):
        device = torch.device(device)
        tracking = subject.tracking
        self.head = PersonalisedHead(model, tracking["identity"], neck=NECK_CM if still_torso else None)
        self.frames = FrameCorrections(subject.n_frames, model.n_expression)
        self.rotation, self.translation, self.expression, self.gaze = (
            torch.as_tensor(tracking[k], dtype=torch.float32, device=device)
            for k in ("rotation", "translation", "expression", "gaze")
        )
        train, _ = subject.split()
        train = torch.as_tensor(train, device=device)
        self.torso = torso_pose(self.rotation[train], self.translation[train]) if still_torso else None
        self.model, self.texels_per_cm = model, texels_per_cm
        self.head.to(device)
        self.frames.to(device)
        self.params: Params = {
            k: torch.nn.Parameter(v) if k in LEARNED else v for k, v in self.uv_gaussians().items()
        }

    def uv_gaussians(self, opacity: float = 0.9) -> Params:
        """Fresh Gaussians, one per UV sample of the head at the state's density (plain tensors
        on the state's device)."""
        samples = sample_uv(self.model, self.texels_per_cm)
        density = [material_density(name, self.texels_per_cm) for name in self.model.material_names]
        per_sample = torch.tensor(density, dtype=torch.float32)[samples.material]
        neutral, triangles = self.head.neutral.cpu(), self.head.triangles.cpu()
        params = initial_gaussians(samples, neutral, triangles, per_sample, opacity=opacity)
        return {k: v.detach().to(self.device) for k, v in params.items()}

    @property
    def device(self) -> torch.device:
        return self.rotation.device

    def posed_vertices(self, f: int) -> torch.Tensor:
        frames = torch.tensor([f], device=self.device)
        R, t, e = self.frames.apply(
            frames, self.rotation[frames], self.translation[frames], self.expression[frames]
        )
        return self.head(e.clamp(0, 1), self.gaze[frames], R, t, self.torso)[0]

    def neutral_vertices(self) -> torch.Tensor:
        """(V, 3) the personalised mesh in model space at neutral expression, gaze straight ahead."""
        n_expression = self.expression.shape[1]
        no_gaze = torch.zeros(1, 2, 2, device=self.device)
        return self.head.canonical(torch.zeros(1, n_expression, device=self.device), no_gaze)[0]

    def render(self, f: int, K: torch.Tensor, size: int, background: float):
        """Training frame f as tracked (and corrected)."""
        return self.render_mesh(self.posed_vertices(f), K, size, background)

    def render_mesh(self, vertices: torch.Tensor, K: torch.Tensor, size: int, background: float):
        """The Gaussians bound to ``vertices`` (V, 3) in camera space, through intrinsics K."""
        return self._rasterize(
            world_gaussians(self.params, vertices, self.head.triangles), K, size, background
        )

    def _rasterize(self, gaussians: tuple, K: torch.Tensor, size: int, background: float):
        """Render (means, quats, scales, opacities, colours) from the camera at the origin."""
        return rasterize(
            *gaussians,
            K.to(self.device),
            torch.eye(4, device=self.device),
            size,
            size,
            background=torch.full((3,), background, device=self.device),
            backend="cpu" if self.device.type == "cpu" else "gsplat",
        )

    def rendering_weights(self, params: Params, frames, K: torch.Tensor, size: int) -> torch.Tensor:
        """(F, N) each Gaussian's total blending weight (pixels) in each training frame.

        The weight of Gaussian i is the derivative of the image's sum over pixels with respect to
        its colour (d sum_p C_p / d c_i = sum_p alpha_ip T_ip), so one backward pass per frame
        through any backend gives it, with no rasterizer change.
        """
        rows = []
        for f in frames:
            with torch.no_grad():
                means, quats, scales, opacities, _ = world_gaussians(
                    params, self.posed_vertices(int(f)), self.head.triangles
                )
            probe = torch.zeros(len(opacities), 3, device=self.device, requires_grad=True)
            image = self._rasterize((means, quats, scales, opacities, probe), K, size, 0.0).image
            (grad,) = torch.autograd.grad(image[..., 0].sum(), probe)
            rows.append(grad[:, 0])
        return torch.stack(rows)

    def complete_unseen(self, frames, K: torch.Tensor, size: int, optimizer=None) -> dict[str, int]:
        """Replace the Gaussians that none of ``frames`` shows by fresh opaque UV samples on the
        unseen surface, coloured from the seen one (:mod:`headsplat.avatar.gaussians.completion`).

        Fresh samples are tested behind the kept Gaussians at a faint :data:`PROBE_OPACITY`, so
        that they barely hide one another, and their weights scaled to the opacity they get.
        Returns the counts of removed and added Gaussians.
        """
        keep = ~unseen(self.rendering_weights(self.params, frames, K, size))
        n_kept = int(keep.sum())
        fresh = self.uv_gaussians(opacity=PROBE_OPACITY)
        trial = {k: torch.cat([v.detach()[keep], fresh[k]]) for k, v in self.params.items()}
        weights = self.rendering_weights(trial, frames, K, size)[:, n_kept:]
        hidden = unseen(weights * (FRESH_OPACITY / PROBE_OPACITY))
        known = torch.arange(len(trial["triangle"]), device=self.device) < n_kept
        colours, reached = fill_colours(
            sh0_to_rgb(trial["sh0"]),
            known,
            trial["triangle"],
            trial["bary"],
            self.head.triangles,
            len(self.head.neutral),
        )
        fresh["sh0"] = rgb_to_sh0(colours[n_kept:]).reshape(fresh["sh0"].shape)
        fresh["opacity"] = torch.full_like(
            fresh["opacity"], float(np.log(FRESH_OPACITY / (1 - FRESH_OPACITY)))
        )
        add = hidden & reached[n_kept:]
        update_rows(self.params, optimizer, keep=keep, append={k: v[add] for k, v in fresh.items()})
        return {"removed": int((~keep).sum()), "added": int(add.sum())}


def named_parameters(state: AvatarState) -> dict[str, torch.nn.Parameter]:
    """The non-Gaussian learnables, by checkpoint name."""
    return {f"head.{k}": v for k, v in state.head.named_parameters()} | {
        f"frames.{k}": v for k, v in state.frames.named_parameters()
    }


def load_avatar_tensors(state: AvatarState, tensors: dict[str, torch.Tensor]) -> None:
    """Set the Gaussians and the head and frame corrections from checkpoint tensors."""
    for name in list(state.params):
        value = tensors[f"gaussians.{name}"].to(state.device)
        state.params[name] = torch.nn.Parameter(value) if name in LEARNED else value
    with torch.no_grad():
        for name, parameter in named_parameters(state).items():
            parameter.copy_(tensors[name])
