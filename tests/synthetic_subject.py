"""A synthetic subject folder: shaded renders of the ICT head turning, with exact tracking."""

import json

import cv2
import numpy as np
import torch

from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix
from headsplat.head.model import barycentric_interpolate
from headsplat.io.subject import FORMAT_VERSION, split_frames
from headsplat.render.mesh import project_points, rasterize_mesh, shade_lambert, vertex_normals

N_FRAMES = 10


def write_synthetic_subject(
    folder, model, size: int = 64, vertices: np.ndarray | None = None, distance: float = 75.0
):
    """Frames of the neutral ICT head turning slowly, shaded per material; masks from coverage; the
    exact landmarks (the model's MediaPipe correspondence, projected). ``vertices`` (V, 3): the
    person's surface, if not the model's mean (the tracking stays the mean's); ``distance``: cm
    from the camera."""
    surface_vertices = model.shape.mean if vertices is None else vertices
    albedo_of = {"M_Face": (0.85, 0.62, 0.5), "M_BackHead": (0.25, 0.18, 0.12), "M_Teeth": (0.9, 0.9, 0.85)}
    keep = model.material_triangles("M_Face", "M_BackHead", "M_Teeth", "M_ScleraLeft", "M_ScleraRight")
    palette = np.array([albedo_of.get(n, (0.9, 0.9, 0.9)) for n in model.material_names])
    # Texture so there is something to learn: a stripe pattern on the face by height.
    triangles = model.triangles[keep]
    albedo = palette[model.triangle_material[keep]].copy()
    height = model.shape.mean[triangles].mean(1)[:, 1]
    albedo[(np.floor(height / 2) % 2 == 0) & (model.triangle_material[keep] == 0)] *= 0.7
    focal = 2.0 * size
    K = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]], dtype=np.float32)
    yaw = np.deg2rad(np.linspace(-20, 20, N_FRAMES))
    rotation = (
        axis_angle_to_matrix(torch.tensor(np.c_[np.zeros(N_FRAMES), yaw, np.zeros(N_FRAMES)]).float())
        @ torch.from_numpy(MODEL_TO_OPENCV).float()
    ).numpy()
    translation = np.tile([0.0, -2.0, distance], (N_FRAMES, 1)).astype(np.float32)
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    light = np.array([0.3, -0.3, -1.0]) / np.linalg.norm([0.3, -0.3, -1.0])
    marks = model.landmarks
    surface = barycentric_interpolate(model.shape.mean, model.triangles[marks.triangle], marks.bary)
    landmarks = np.zeros((N_FRAMES, len(marks.bary), 2), np.float32)
    for f in range(N_FRAMES):
        camera = surface_vertices.astype(np.float64) @ rotation[f].T + translation[f]
        landmarks[f] = project_points(surface @ rotation[f].T + translation[f], K)
        raster = rasterize_mesh(camera, triangles, K, size, size)
        image = shade_lambert(raster, vertex_normals(camera, triangles), triangles, albedo, light, (0, 0, 0))
        cv2.imwrite(str(folder / "frames" / f"{f:06d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(folder / "masks" / f"{f:06d}.png"), ((raster.triangle >= 0) * 255).astype(np.uint8))
    np.savez(
        folder / "tracking.npz",
        K=K,
        rotation=rotation.astype(np.float32),
        translation=translation,
        expression=np.zeros((N_FRAMES, model.n_expression), np.float32),
        expression_names=np.array(model.expression_names),
        gaze=np.zeros((N_FRAMES, 2, 2), np.float32),
        identity=np.zeros(model.n_identity, np.float32),
        landmarks=landmarks,
        source_frame=np.arange(N_FRAMES),
    )
    train_frames, test_frames = split_frames(N_FRAMES)
    meta = {
        "format_version": FORMAT_VERSION,
        "size": size,
        "n_frames": N_FRAMES,
        "fps": 25.0,
        "split": {"train": train_frames.tolist(), "test": test_frames.tolist()},
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def tiny_config(size: int = 64, steps: int = 8, texels_per_cm: float = 0.5, **fields):
    """A RunConfig for tests: small images, few Gaussians, a 3-step geometry stage and a 2-step pose
    alignment at 32 px, a log line never; ``fields`` set
    top-level fields, ``strategy=StrategyConfig(...)`` and ``completion="none"`` included."""
    from headsplat.config import RunConfig

    completion = fields.pop("completion", None)
    config = RunConfig(size=size, steps=steps, log_every=10**9, **fields)
    config.avatar.gaussians.texels_per_cm = texels_per_cm
    config.geometry.steps, config.geometry.size = 3, 32
    config.frames.align_size, config.frames.align_steps = 32, 2
    if completion is not None:
        config.completion.name = completion
    return config
