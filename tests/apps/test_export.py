"""`headsplat export --ply`: the standard 3DGS layout, read back with plyfile."""

import numpy as np
import pytest
import torch
from plyfile import PlyData

from headsplat.apps.export.ply import FIELDS
from headsplat.avatar import load_avatar
from headsplat.avatar.gaussians.binding import bind
from headsplat.avatar.gaussians.store import soft_cap
from headsplat.cli import main


def test_ply_holds_the_avatar_in_model_space_in_the_standard_layout(trained_run, tmp_path):
    run, _ = trained_run
    path = tmp_path / "avatar.ply"
    assert main(["export", str(run), "--ply", str(path)]) == 0
    vertex = PlyData.read(str(path))["vertex"]
    assert vertex.data.dtype.names == FIELDS
    assert all(vertex.data.dtype[name] == np.dtype("<f4") for name in FIELDS)

    avatar = load_avatar(run)
    store, head = avatar.gaussians, avatar.head
    # Model space: the neutral head with its corrections, no pose (the binding by hand).
    personal = avatar.mesh_deformers["personal_blendshapes"]
    neutral = head.neutral + personal.delta_neutral
    offset = store.offset_distance(head.hair_triangles())
    expected = bind(
        neutral,
        head.triangles,
        triangle=store.triangle,
        bary=store.bary,
        offset=offset,
        local_quats=store.rotation,
        log_scales=store.log_scale,
    )
    assert vertex.count == len(store)
    column = lambda *names: np.stack([vertex[n] for n in names], axis=1)  # noqa: E731
    np.testing.assert_allclose(column("x", "y", "z"), expected.means.detach().numpy(), atol=1e-4)
    np.testing.assert_allclose(
        column("rot_0", "rot_1", "rot_2", "rot_3"), expected.quats.detach().numpy(), atol=1e-5
    )
    scales = soft_cap(expected.scales, store.max_scale(head.opening_distance()))  # at the seams
    written = np.exp(column("scale_0", "scale_1", "scale_2"))
    np.testing.assert_allclose(written, scales.detach().numpy(), rtol=1e-5)
    opacity = torch.sigmoid(store.opacity[:, 0]).detach().numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-vertex["opacity"])), opacity, atol=1e-5)
    np.testing.assert_allclose(column("f_dc_0", "f_dc_1", "f_dc_2"), store.sh0.detach().numpy(), atol=1e-5)
    assert (column("nx", "ny", "nz") == 0).all()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no partial file left


def test_export_takes_one_kind_per_call(trained_run, capsys):
    run, _ = trained_run
    with pytest.raises(SystemExit):
        main(["export", str(run)])
    kinds = "--ply --blendshapes --web --sequence --maps"
    assert f"one of the arguments {kinds} is required" in capsys.readouterr().err
