"""The avatar as an artifact: one module that renders a :class:`Condition` through a :class:`Camera`,
and saves to and loads from one self-contained file.

The pipeline (docs/architecture.md, section 3):

    head mesh at the expression -> model-space mesh deformers (personal blendshapes) -> gaze
    -> rigid pose -> world-space mesh deformers (still torso) -> binding of the UV Gaussians
    -> Gaussian deformers -> rasterize

An avatar file (``RUN/avatar.safetensors``) holds every tensor of the avatar (the personalised head
mesh, the Gaussians, each mechanism's tensors) and, in the safetensors header, the JSON metadata:
the head model's name and checksum, the avatar config (which mechanisms, their settings), the
training camera (size; K is a tensor), fps, background and a training summary. Nothing else is
needed to render it: no head model file, no subject folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from headsplat.avatar.condition import Camera, Condition, pinhole_camera
from headsplat.avatar.deformers import GAUSSIAN_DEFORMERS, MESH_DEFORMERS, BuildContext, DeformContext
from headsplat.avatar.deformers.base import GaussianDeformer, MeshDeformer
from headsplat.avatar.deformers.personal import PersonalBlendshapesConfig
from headsplat.avatar.deformers.torso import StillTorsoConfig, torso_pose
from headsplat.avatar.gaussians.rows import RowChange
from headsplat.avatar.gaussians.store import (
    COLUMNS,
    GaussianConfig,
    GaussianSet,
    GaussianStore,
    initial_columns,
)
from headsplat.avatar.head_mesh import TENSORS, HeadMesh
from headsplat.avatar.modules import AvatarModule
from headsplat.head import HeadModel
from headsplat.io.atomic import atomic_write
from headsplat.io.checkpoint import Parts, damage_reported, load_parts
from headsplat.io.errors import InputError
from headsplat.io.run import RunFolder
from headsplat.io.settings import from_dict, registry_field, to_dict
from headsplat.render import Rendering, rasterize

FORMAT_VERSION = 3
"""2: the Gaussians bind by region (``hair_max_offset``, ``hair_scale_ratio_max``); 3: their
scales are capped near the seams of the lips and lids (``opening_scale``). Older files load as
they rendered (:func:`upgraded_metadata`), but for one detail: the mouth's and eyes' sockets no
longer count as hair, which changes an old avatar only where it was trained with a hair binding
other than the face's (not the default) and only inside the sockets."""
METADATA_KEY = "headsplat_avatar"
AVATAR_FIX = (
    "A run's avatar: delete it and write it again from the run's last checkpoint (`headsplat train "
    "SUBJECT -o RUN --resume`); an avatar file from elsewhere: copy it again."
)


@dataclass
class AvatarConfig:
    """What an avatar is made of: its Gaussians and its mechanisms, in pipeline order."""

    gaussians: GaussianConfig = field(default_factory=GaussianConfig)
    mesh_deformers: dict[str, Any] = registry_field(
        MESH_DEFORMERS,
        {"personal_blendshapes": PersonalBlendshapesConfig(), "still_torso": StillTorsoConfig()},
    )
    """Mesh deformers by registry name (:data:`headsplat.avatar.deformers.MESH_DEFORMERS`)."""
    gaussian_deformers: dict[str, Any] = registry_field(GAUSSIAN_DEFORMERS, {})
    """Gaussian deformers by registry name (:data:`headsplat.avatar.deformers.GAUSSIAN_DEFORMERS`)."""


class Avatar(nn.Module):
    """A trained (or training) avatar.

    Args:
        head: the personalised head mesh. gaussians: the UV-bound Gaussians.
        mesh_deformers, gaussian_deformers: the mechanisms by registry name, in pipeline order.
        K: (3, 3) intrinsics of the training camera at ``info["size"]``.
        rest_rotation (3, 3), rest_translation (3,): the training clip's still torso pose
            (:func:`~headsplat.avatar.deformers.torso.torso_pose` of its head poses).
        neutral_expression: (E,) the face at rest: :func:`most_neutral_expression` of the training clip.
        info: ``size``, ``fps``, ``background`` and a ``training`` summary.
    """

    def __init__(
        self,
        head: HeadMesh,
        gaussians: GaussianStore,
        *,
        mesh_deformers: dict[str, MeshDeformer],
        gaussian_deformers: dict[str, GaussianDeformer],
        K: Tensor,
        rest_rotation: Tensor,
        rest_translation: Tensor,
        neutral_expression: Tensor,
        info: dict,
    ):
        super().__init__()
        self.head = head
        self.gaussians = gaussians
        self.mesh_deformers = nn.ModuleDict(mesh_deformers)
        self.gaussian_deformers = nn.ModuleDict(gaussian_deformers)
        self.register_buffer("K", K)
        self.register_buffer("rest_rotation", rest_rotation)
        self.register_buffer("rest_translation", rest_translation)
        self.register_buffer("neutral_expression", neutral_expression)
        self.info = {
            "size": int(info["size"]),
            "fps": float(info["fps"]),
            "background": float(info["background"]),
        }
        self.info["training"] = dict(info.get("training", {}))
        if "baking" in info:  # a baked avatar (headsplat.apps.bake): how its maps were made
            self.info["baking"] = dict(info["baking"])

    # ------------------------------------------------------------------ what it is

    @property
    def device(self) -> torch.device:
        return self.K.device

    @property
    def size(self) -> int:
        """Side in pixels of the training images."""
        return self.info["size"]

    @property
    def expression_names(self) -> list[str]:
        """The order of :attr:`Condition.expression` (ARKit blendshape names)."""
        return self.head.expression_names

    @property
    def config(self) -> AvatarConfig:
        return AvatarConfig(
            self.gaussians.config,
            {name: d.config for name, d in self.mesh_deformers.items()},
            {name: d.config for name, d in self.gaussian_deformers.items()},
        )

    def learnable_modules(self) -> Iterator[tuple[str, AvatarModule]]:
        """Every part that keeps the module contract, by its path in the avatar, in pipeline order."""
        for name, module in self.named_modules():
            if isinstance(module, AvatarModule):
                yield name, module

    # ------------------------------------------------------------------ conditions and cameras

    def camera(self, size: int | None = None, viewmat: Tensor | None = None) -> Camera:
        """The training camera (at the world origin unless ``viewmat``) for ``size`` px images."""
        size = size or self.size
        K = self.K.clone()
        K[:2] *= size / self.size
        return pinhole_camera(K, size, viewmat)

    def rest_pose(self) -> tuple[Tensor, Tensor]:
        """(rotation (3, 3), translation (3,)): the training clip's still torso pose."""
        return self.rest_rotation, self.rest_translation

    def condition(
        self,
        expression: Tensor | None = None,
        gaze: Tensor | None = None,
        *,
        rotation: Tensor | None = None,
        translation: Tensor | None = None,
        torso: tuple[Tensor, Tensor] | str | None = "rest",
    ) -> Condition:
        """A condition with defaults: expression zero (every blendshape off), gaze ahead, the head
        at the rest pose, the torso at the rest pose (``torso=None``: it turns with the head)."""
        like = self.K
        return Condition(
            torch.zeros(len(self.expression_names)).to(like) if expression is None else expression.to(like),
            torch.zeros(2, 2).to(like) if gaze is None else gaze.to(like),
            self.rest_rotation if rotation is None else rotation.to(like),
            self.rest_translation if translation is None else translation.to(like),
            self.rest_pose() if torso == "rest" else torso,
        )

    # ------------------------------------------------------------------ the pipeline

    def mesh(self, condition: Condition) -> tuple[Tensor, Tensor]:
        """(canonical (V, 3) in model space after corrections and gaze, posed (V, 3) in the world)."""
        ctx = DeformContext(condition, self.head, self.gaussians)
        deformers = list(self.mesh_deformers.values())
        vertices = self.head.vertices(condition.expression)
        for deformer in deformers:
            if deformer.space == "model":
                vertices = deformer(vertices, ctx)
        canonical = self.head.gaze(vertices, condition.expression, condition.gaze)
        posed = canonical @ condition.rotation.T + condition.translation
        ctx = replace(ctx, canonical=canonical)
        for deformer in deformers:
            if deformer.space == "world":
                posed = deformer(posed, ctx)
        return canonical, posed

    def posed_gaussians(self, condition: Condition, view_rotation: Tensor | None = None) -> GaussianSet:
        """The world-space Gaussians of ``condition``, as seen by a camera with world-to-camera
        rotation ``view_rotation`` (3, 3) (None: the training camera; the colours may depend on it)."""
        canonical, posed = self.mesh(condition)
        head = self.head
        gaussians = self.gaussians.posed(
            posed, head.triangles, head.hair_triangles(), head.opening_distance()
        )
        ctx = DeformContext(condition, self.head, self.gaussians, canonical, posed, view_rotation)
        for deformer in self.gaussian_deformers.values():
            gaussians = deformer(gaussians, ctx)
        return gaussians

    def render(
        self, condition: Condition, camera: Camera | None = None, background: float | None = None
    ) -> Rendering:
        """Render ``condition`` through ``camera`` (default: the training camera) onto a uniform
        ``background`` grey level (default: the training background)."""
        camera = camera or self.camera()
        gaussians = self.posed_gaussians(condition, camera.viewmat[:3, :3].to(self.device))
        return self.rasterize(gaussians, camera, background)

    def rasterize(self, gaussians: GaussianSet, camera: Camera, background: float | None = None) -> Rendering:
        """Rasterize world-space ``gaussians`` through ``camera`` onto a uniform ``background`` grey
        level (default: the training background)."""
        level = self.info["background"] if background is None else background
        return rasterize(
            *gaussians,
            camera.K.to(self.device),
            camera.viewmat.to(self.device),
            camera.width,
            camera.height,
            background=torch.full((gaussians.colours.shape[1],), float(level), device=self.device),
            near=camera.near,
            far=camera.far,
            eps2d=camera.eps2d,
        )

    def rendering_weights(
        self, condition: Condition, camera: Camera, per_pixel: Tensor | None = None
    ) -> Tensor:
        """Each Gaussian's blending weight summed over its footprint, sum_p w_p alpha_ip T_ip, with
        per-pixel weights ``per_pixel``: None (w = 1: its weight in pixels) -> (N,); (H, W) -> (N,);
        (H, W, C) with C <= 3, C maps at once -> (N, C).

        It is the derivative of sum_p w_p C_p with respect to the Gaussian's colour, so one backward
        pass through any backend gives it, with no rasterizer change.
        """
        with torch.no_grad():
            gaussians = self.posed_gaussians(condition, camera.viewmat[:3, :3].to(self.device))
        probe = torch.zeros_like(gaussians.colours, requires_grad=True)
        image = self.rasterize(gaussians._replace(colours=probe), camera, 0.0).image
        if per_pixel is None or per_pixel.dim() == 2:
            weighted = image[..., 0] if per_pixel is None else image[..., 0] * per_pixel
            (grad,) = torch.autograd.grad(weighted.sum(), probe)
            return grad[:, 0]
        channels = per_pixel.shape[-1]
        (grad,) = torch.autograd.grad((image[..., :channels] * per_pixel).sum(), probe)
        return grad[:, :channels]

    # ------------------------------------------------------------------ row operations

    def change_rows(
        self,
        keep: Tensor | None = None,
        appended: dict[str, Tensor] | None = None,
        parents: Tensor | None = None,
        *,
        optimizers: Sequence[torch.optim.Optimizer] = (),
        states: Sequence = (),
    ) -> RowChange:
        """Remove and/or add Gaussians everywhere at once: the store's columns, every module's
        per-Gaussian tensors, the optimizers' moments and each of ``states`` (objects with
        ``apply_row_change(change)``, e.g. a strategy's statistics).

        Args:
            keep: (N,) bool rows to keep (None: all). appended: the store's columns of new rows.
            parents: (A,) the old row each new row derives from (None: all fresh, -1).
        """
        change = RowChange.make(
            len(self.gaussians), keep=keep, appended=appended, parents=parents, device=self.device
        )
        for _, module in self.learnable_modules():
            module.apply_row_change(change, optimizers)
        for state in states:
            state.apply_row_change(change)
        return change

    # ------------------------------------------------------------------ the file

    def metadata(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "head": self.head.info,
            "config": to_dict(self.config),
            **self.info,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the avatar to one ``.safetensors`` file (atomically)."""
        tensors = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        header = {METADATA_KEY: json.dumps(self.metadata())}
        return atomic_write(path, lambda p: save_file(tensors, str(p), metadata=header))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Avatar:
        """The avatar in the file ``path`` (written by :meth:`save`).

        Raises:
            InputError: not an avatar file, or a truncated or damaged one (naming the fix).
        """
        with damage_reported(path, "avatar file", AVATAR_FIX), safe_open(str(path), framework="pt") as stream:
            header = stream.metadata() or {}
            if METADATA_KEY not in header:
                raise InputError(f"{path}: not a headsplat avatar file (no {METADATA_KEY} header).")
            tensors = {key: stream.get_tensor(key) for key in stream.keys()}  # noqa: SIM118
            meta = json.loads(header[METADATA_KEY])
        return cls.from_state(tensors, meta, device)

    @classmethod
    def from_state(cls, tensors: dict[str, Tensor], meta: dict, device: str | torch.device = "cpu") -> Avatar:
        """Rebuild an avatar from its :meth:`state_dict` and :meth:`metadata`."""
        meta = upgraded_metadata(meta)
        if meta.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"avatar format {meta.get('format_version')}, this headsplat reads {FORMAT_VERSION}; "
                "retrain it."
            )
        config = from_dict(AvatarConfig, meta["config"], "avatar.")
        head = HeadMesh({k: tensors[f"head.{k}"] for k in TENSORS}, meta["head"])
        store = GaussianStore({k: tensors[f"gaussians.{k}"] for k in COLUMNS}, config.gaussians)
        avatar = assemble_avatar(
            head,
            store,
            config,
            K=tensors["K"],
            rest_rotation=tensors["rest_rotation"],
            rest_translation=tensors["rest_translation"],
            neutral=tensors["neutral_expression"],
            info=meta,
        )
        avatar.load_state_dict(tensors, strict=True)
        return avatar.to(device)


def upgraded_metadata(meta: dict) -> dict:
    """Avatar metadata of an older format in the current one, the avatar unchanged: format 1 knew
    one binding range and one scale-ratio cap for every Gaussian, format 2 no cap at the lips."""
    version = meta.get("format_version")
    if version not in (1, 2):
        return meta
    config = json.loads(json.dumps(meta["config"]))
    gaussians = config.setdefault("gaussians", {})
    if version == 1:
        gaussians.setdefault("hair_max_offset", gaussians.get("max_offset", GaussianConfig.max_offset))
        gaussians.setdefault(
            "hair_scale_ratio_max", gaussians.get("scale_ratio_max", GaussianConfig.scale_ratio_max)
        )
    gaussians.setdefault("opening_scale", 0.0)
    return {**meta, "config": config, "format_version": FORMAT_VERSION}


def assemble_avatar(
    head,
    store,
    config: AvatarConfig,
    *,
    K,
    rest_rotation,
    rest_translation,
    neutral,
    info,
    expressions: Tensor | None = None,
) -> Avatar:
    """An :class:`Avatar` of ``head`` and ``store`` with the mechanisms of ``config`` built fresh
    from their registries (``expressions`` (F, E): the training frames', for a new avatar; the
    other arguments as :class:`Avatar`'s)."""
    build = BuildContext(head, len(store), expressions)
    mesh = {name: MESH_DEFORMERS[name](options, build) for name, options in config.mesh_deformers.items()}
    gaussian = {
        name: GAUSSIAN_DEFORMERS[name](options, build) for name, options in config.gaussian_deformers.items()
    }
    return Avatar(
        head,
        store,
        mesh_deformers=mesh,
        gaussian_deformers=gaussian,
        K=K,
        rest_rotation=rest_rotation,
        rest_translation=rest_translation,
        neutral_expression=neutral,
        info=info,
    )


def most_neutral_expression(expression: Tensor) -> Tensor:
    """(E,) the face at rest of a clip's expressions (F, E): the frame's whose weights are smallest
    (L2), a face the person made. Each weight's median, the rest before it, is a combination no
    frame need show, and it rendered blurred beside the person's most neutral frames (measurements:
    docs/quality.md, section "The rest face (`benchmarks/rest_face.py`)")."""
    return expression[int(expression.norm(dim=1).argmin())].clone()


def create_avatar(
    model: HeadModel,
    identity: np.ndarray,
    *,
    rotation: Tensor,
    translation: Tensor,
    expression: Tensor,
    config: AvatarConfig,
    K: Tensor,
    info: dict,
    device: str | torch.device = "cpu",
    surface: Tensor | None = None,
) -> Avatar:
    """An untrained avatar of one person: the head model with their ``identity`` (I,), Gaussians
    at the UV samples, the mechanisms of ``config``; the rest pose and neutral expression from the
    training frames' ``rotation`` (F, 3, 3), ``translation`` (F, 3) and ``expression`` (F, E).

    Args:
        K: (3, 3) intrinsics at ``info["size"]``. info: ``size``, ``fps``, ``background``.
        surface: (V, 3) the person's neutral mesh in place of the model's at ``identity`` (the
            geometry stage's, :mod:`headsplat.training.geometry`).
    """
    head = HeadMesh.from_model(model, identity).to(device)
    if surface is not None:
        head.neutral = surface.detach().to(head.neutral)
    store = GaussianStore(initial_columns(head, config.gaussians), config.gaussians)
    rest_rotation, rest_translation = torso_pose(rotation.float(), translation.float())
    neutral = most_neutral_expression(expression.float())
    avatar = assemble_avatar(
        head,
        store,
        config,
        K=K.float(),
        rest_rotation=rest_rotation,
        rest_translation=rest_translation,
        neutral=neutral,
        info=info,
        expressions=expression.float(),
    )
    return avatar.to(device)


def load_avatar(source: str | os.PathLike, device: str | torch.device = "cpu") -> Avatar:
    """The avatar of a run folder (its ``avatar.safetensors``, or the latest checkpoint of a run
    still training) or of an avatar file, frozen (``requires_grad_(True)`` to fine-tune it).

    Raises:
        InputError: neither, or a run with no checkpoint yet.
    """
    return _unfrozen_avatar(Path(source), device).requires_grad_(False)


def _unfrozen_avatar(source: Path, device: str | torch.device) -> Avatar:
    if source.is_file():
        return Avatar.load(source, device)
    run = RunFolder(source)
    run.read_config()  # a clear error for a folder that is not a run
    if run.avatar_path.is_file():
        return Avatar.load(run.avatar_path, device)
    latest = run.latest_checkpoint()
    if latest is None:
        raise InputError(f"{source}: has no checkpoint yet. Train (or resume) it with `headsplat train`.")
    return avatar_from_parts(load_parts(latest), device)


def avatar_from_parts(parts: Parts, device: str | torch.device = "cpu") -> Avatar:
    """The avatar inside a checkpoint's parts (its part ``avatar``, :mod:`headsplat.io.checkpoint`)."""
    return Avatar.from_state(*parts["avatar"], device)
