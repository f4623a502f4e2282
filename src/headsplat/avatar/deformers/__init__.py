"""What moves the head mesh and the Gaussians per condition, by registry name
(:mod:`headsplat.avatar.deformers.base`)."""

from headsplat.avatar.deformers import (
    frame_code,
    hair_motion,
    hair_skinning,
    personal,
    shading,
    soft_binding,
    sparse_control,
    torso,
)
from headsplat.avatar.deformers.base import (
    GAUSSIAN_DEFORMERS,
    MESH_DEFORMERS,
    BuildContext,
    DeformContext,
    GaussianDeformer,
    MeshDeformer,
    register_gaussian_deformer,
    register_mesh_deformer,
)

__all__ = [
    "GAUSSIAN_DEFORMERS",
    "MESH_DEFORMERS",
    "BuildContext",
    "DeformContext",
    "GaussianDeformer",
    "MeshDeformer",
    "frame_code",
    "hair_motion",
    "hair_skinning",
    "personal",
    "register_gaussian_deformer",
    "register_mesh_deformer",
    "shading",
    "soft_binding",
    "sparse_control",
    "torso",
]
