"""Training end to end on a synthetic subject: a shaded render of the ICT head with known tracking."""

import json

import cv2
import numpy as np
import pytest
import torch

from headsplat.dataset import FORMAT_VERSION, split_frames
from headsplat.gaussians.uv_sampling import sample_uv
from headsplat.render.mesh import rasterize_mesh, shade_lambert, vertex_normals
from headsplat.strategy import StrategyConfig
from headsplat.track.fit import MODEL_TO_OPENCV
from headsplat.track.rotation import axis_angle_to_matrix
from headsplat.train import TrainConfig, evaluate_psnr, train

SIZE = 64
N_FRAMES = 10


def _write_synthetic_subject(folder, model):
    """Frames of the neutral ICT head turning slowly, shaded per material; masks from coverage."""
    albedo_of = {"M_Face": (0.85, 0.62, 0.5), "M_BackHead": (0.25, 0.18, 0.12), "M_Teeth": (0.9, 0.9, 0.85)}
    keep = model.material_triangles("M_Face", "M_BackHead", "M_Teeth", "M_ScleraLeft", "M_ScleraRight")
    palette = np.array([albedo_of.get(n, (0.9, 0.9, 0.9)) for n in model.material_names])
    # Texture so there is something to learn: a stripe pattern on the face by height.
    triangles = model.triangles[keep]
    albedo = palette[model.triangle_material[keep]].copy()
    height = model.shape.mean[triangles].mean(1)[:, 1]
    albedo[(np.floor(height / 2) % 2 == 0) & (model.triangle_material[keep] == 0)] *= 0.7
    focal = 2.0 * SIZE
    K = np.array([[focal, 0, SIZE / 2], [0, focal, SIZE / 2], [0, 0, 1]], dtype=np.float32)
    yaw = np.deg2rad(np.linspace(-20, 20, N_FRAMES))
    rotation = (
        axis_angle_to_matrix(torch.tensor(np.c_[np.zeros(N_FRAMES), yaw, np.zeros(N_FRAMES)]).float())
        @ MODEL_TO_OPENCV
    ).numpy()
    translation = np.tile([0.0, -2.0, 75.0], (N_FRAMES, 1)).astype(np.float32)
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    light = np.array([0.3, -0.3, -1.0]) / np.linalg.norm([0.3, -0.3, -1.0])
    for f in range(N_FRAMES):
        camera = model.shape.mean.astype(np.float64) @ rotation[f].T + translation[f]
        raster = rasterize_mesh(camera, triangles, K, SIZE, SIZE)
        image = shade_lambert(raster, vertex_normals(camera, triangles), triangles, albedo, light, (0, 0, 0))
        cv2.imwrite(str(folder / "frames" / f"{f:06d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(folder / "masks" / f"{f:06d}.png"), ((raster.triangle >= 0) * 255).astype(np.uint8))
    np.savez(
        folder / "tracking.npz",
        K=K,
        rotation=rotation.astype(np.float32),
        translation=translation,
        expression=np.zeros((N_FRAMES, model.n_expression), np.float32),
        gaze=np.zeros((N_FRAMES, 2, 2), np.float32),
        identity=np.zeros(model.n_identity, np.float32),
        source_frame=np.arange(N_FRAMES),
    )
    train_frames, test_frames = split_frames(N_FRAMES)
    meta = {
        "format_version": FORMAT_VERSION,
        "size": SIZE,
        "n_frames": N_FRAMES,
        "fps": 25.0,
        "split": {"train": train_frames.tolist(), "test": test_frames.tolist()},
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def synthetic_subject(tmp_path_factory, ict_model):
    return _write_synthetic_subject(tmp_path_factory.mktemp("subject") / "synthetic", ict_model)


def test_a_tiny_avatar_learns_the_held_out_frames(synthetic_subject, ict_model):
    strategy = StrategyConfig(name="sampling", start=50, every=50, add=200)
    config = TrainConfig(
        size=SIZE, steps=150, texels_per_cm=0.8, log_every=1000, background=0.0, strategy=strategy
    )
    state, data, summary = train(synthetic_subject, config, model=ict_model, log=lambda _: None)
    train_frames, test_frames = data.subject.split()
    n_gaussians = len(state.params["triangle"])
    # The UV samples, +200 at steps 50, 100 and 150, minus the pruned transparent ones.
    initial = len(sample_uv(ict_model, config.texels_per_cm).material)
    assert initial + 400 <= n_gaussians <= initial + 600
    held_out = evaluate_psnr(state, data, test_frames, config.background)
    # Untrained renders score 13.9 dB. The held-out frames are the last 20 % of the turn, a yaw
    # the training frames never showed (measured after 150 steps: 21.6 held out, 24.3 training).
    assert held_out > 20.0, f"held-out PSNR {held_out:.1f} dB"
    assert evaluate_psnr(state, data, train_frames, config.background) > 22.5
    assert summary["steps"] == 150
