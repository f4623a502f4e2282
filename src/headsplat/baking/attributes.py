"""The Gaussians' attributes as map channels: which are baked, how a map value decodes into a
Gaussian's column, and back.

Every learned column of the Gaussian store is baked (FATE's 11 channels are exactly ours):

============  ========  ==========================================================================
channels      group     value (what the float maps hold)
============  ========  ==========================================================================
0-2           colour    RGB in [0, 1] (the frames' sRGB values; the store's sh0 = (rgb - 0.5) / C0)
3             opacity   logit
4-6           scale     log scale relative to the triangle's mean edge length (the store's)
7-9           rotation  axis * angle in the triangle frame (radians, angle <= pi)
10            offset    along the normal, before the store's tanh bound
============  ========  ==========================================================================

``appearance`` bakes colour and opacity only; the geometry stays the trained avatar's (FATE's
appearance-only baking). The network's raw output decodes as sigmoid for colour and as
``mean + std * SPREAD * tanh(raw / SPREAD)`` for the rest, with the trained Gaussians' per-channel
mean and standard deviation (GGHead's normalisation, as FATE's scale decoding): a zero output is
the average Gaussian, and baked values stay within :data:`SPREAD` deviations of it, in the
avatar's range (unbounded, a refinement step through the renderer could grow a scale without
limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from headsplat.avatar.gaussians.store import GaussianStore, rgb_to_sh0, sh0_to_rgb
from headsplat.geometry import axis_angle_to_quaternion, quaternion_to_axis_angle

GROUPS = {"colour": 3, "opacity": 1, "scale": 3, "rotation": 3, "offset": 1}
"""Channel groups in map order, with their channel counts."""
MODES = {"all": tuple(GROUPS), "appearance": ("colour", "opacity")}
SPREAD = 3.0
"""Baked values (colour aside) stay within this many standard deviations of the trained mean."""


def group_slices(groups: tuple[str, ...]) -> dict[str, slice]:
    """Each group's channels in maps that hold ``groups`` in :data:`GROUPS` order."""
    slices, start = {}, 0
    for name in groups:
        slices[name] = slice(start, start + GROUPS[name])
        start += GROUPS[name]
    return slices


def store_values(store: GaussianStore, groups: tuple[str, ...]) -> Tensor:
    """(N, C) the store's attributes as map values (module table), ``groups`` in order."""
    parts = {
        "colour": lambda: sh0_to_rgb(store.sh0).clamp(0, 1),
        "opacity": lambda: store.opacity,
        "scale": lambda: store.log_scale,
        "rotation": lambda: quaternion_to_axis_angle(store.rotation),
        "offset": lambda: store.offset,
    }
    return torch.cat([parts[name]() for name in groups], dim=-1)


def values_to_columns(values: Tensor, groups: tuple[str, ...]) -> dict[str, Tensor]:
    """The store columns that map ``values`` (N, C) of ``groups`` give."""
    slices = group_slices(groups)
    makers = {
        "colour": ("sh0", lambda v: rgb_to_sh0(v)),
        "opacity": ("opacity", lambda v: v),
        "scale": ("log_scale", lambda v: v),
        "rotation": ("rotation", axis_angle_to_quaternion),
        "offset": ("offset", lambda v: v),
    }
    columns = {}
    for name in groups:
        column, make = makers[name]
        columns[column] = make(values[:, slices[name]])
    return columns


@dataclass
class AttributeCodec:
    """Decoding of the network's raw output into map values for ``groups``, normalised by the
    trained Gaussians' ``mean`` and ``std`` (C,) (colour channels: unused)."""

    groups: tuple[str, ...]
    mean: Tensor
    std: Tensor

    @classmethod
    def fit(cls, store: GaussianStore, mode: str) -> AttributeCodec:
        """The codec of ``mode`` (:data:`MODES`) with ``store``'s statistics."""
        groups = MODES[mode]
        with torch.no_grad():
            values = store_values(store, groups)
        return cls(groups, values.mean(0), values.std(0).clamp_min(1e-3))

    @property
    def channels(self) -> int:
        return sum(GROUPS[name] for name in self.groups)

    def decode(self, raw: Tensor, dim: int = -1) -> Tensor:
        """Map values of ``raw`` network output, channels along ``dim``."""
        shape = [1] * raw.dim()
        shape[dim] = self.channels
        mean, std = self.mean.to(raw).reshape(shape), self.std.to(raw).reshape(shape)
        values = mean + std * SPREAD * torch.tanh(raw / SPREAD)
        if "colour" not in self.groups:
            return values
        colour = group_slices(self.groups)["colour"]
        parts = [
            values.narrow(dim, 0, colour.start),
            torch.sigmoid(raw.narrow(dim, colour.start, colour.stop - colour.start)),
            values.narrow(dim, colour.stop, self.channels - colour.stop),
        ]
        return torch.cat(parts, dim)

    def state(self) -> dict:
        return {"groups": list(self.groups), "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> AttributeCodec:
        return cls(tuple(state["groups"]), torch.tensor(state["mean"]), torch.tensor(state["std"]))
