"""Sparse expression control: which vertices become controls, how the mesh follows them (never
across a gap the surface does not cross), and an avatar with it renders as one without until it
learns, and exports exactly in its linear form."""

import numpy as np
import pytest
import torch

from headsplat.avatar import load_avatar
from headsplat.avatar.deformers import BuildContext, DeformContext
from headsplat.avatar.deformers.controls import (
    edge_graph,
    expression_strain,
    following_weights,
    geodesic_neighbours,
)
from headsplat.avatar.deformers.sparse_control import SparseControl, SparseControlConfig, choose_controls
from headsplat.avatar.head_mesh import HeadMesh
from headsplat.avatar.linear import linearise
from headsplat.cli import main
from headsplat.io.subject import load_subject
from headsplat.training.run import new_avatar
from tests.synthetic_subject import speaking_expression, tiny_config, write_speaking_subject

STEP = 0.25
"""cm between the toy grid's vertices."""


def grid_triangles(rows: int, columns: int, first: int = 0) -> np.ndarray:
    """(2 (rows-1) (columns-1), 3) the triangles of a row-major grid of vertices from ``first``."""
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(columns - 1), indexing="ij")
    corner = (first + i * columns + j).ravel()
    return np.concatenate(
        [
            np.stack([corner, corner + 1, corner + columns], 1),
            np.stack([corner + 1, corner + columns + 1, corner + columns], 1),
        ]
    )


def corner_head(n: int = 21) -> HeadMesh:
    """A flat n x n grid (``STEP`` cm) whose one expression lifts the vertices within 1 cm of the
    corner at the origin (by 1 cm at the corner, fading to 0)."""
    y, x = np.meshgrid(np.arange(n) * STEP, np.arange(n) * STEP, indexing="ij")
    vertices = torch.tensor(np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], 1), dtype=torch.float32)
    lift = torch.clamp(1 - vertices[:, :2].norm(dim=1), min=0)
    triangles = torch.from_numpy(grid_triangles(n, n))
    tensors = {
        "template": vertices,
        "neutral": vertices.clone(),
        "identity": torch.zeros(1),
        "expression_basis": torch.stack([torch.zeros_like(vertices[:, 0]), torch.zeros_like(lift), lift], 1)[
            None
        ],
        "triangles": triangles,
        "triangle_uvs": torch.zeros(len(triangles), 3, 2),
        "triangle_material": torch.zeros(len(triangles), dtype=torch.long),
        "vertex_eye": torch.full((n * n,), -1),
        "eye_centres": torch.zeros(2, 3),
        "eye_centre_expression_basis": torch.zeros(1, 2, 3),
    }
    info = {"name": "corner", "checksum": f"corner-{n}", "expression_names": ["jawOpen"]}
    return HeadMesh(tensors, {**info, "material_names": ["M_Face"]})


RAMP = torch.linspace(0, 1, 10)[:, None]
"""The toy clip's expressions (F, 1): the corner rises over ten frames."""


def test_controls_sit_where_the_expressions_move_the_mesh_and_cover_it_at_tau_zero():
    head = corner_head()
    controls, _, weights = choose_controls(head, RAMP, SparseControlConfig(tau=0.3))
    assert len(controls) > 0
    # Reach >= 0.3 of the corner's: within 0.7 cm of it.
    assert head.neutral[controls, :2].norm(dim=1).max() <= 0.7 + 1e-6
    again, _, weights_again = choose_controls(head, RAMP, SparseControlConfig(tau=0.3))
    np.testing.assert_array_equal(controls, again)
    np.testing.assert_array_equal(weights, weights_again)
    # The far corner (4.2 cm along the surface from the nearest control) does not follow.
    assert weights[-1].sum() == 0
    spacing = 0.5
    every, _, _ = choose_controls(head, RAMP, SparseControlConfig(tau=0.0, spacing=spacing))
    gaps = torch.cdist(head.neutral, head.neutral[every]).min(dim=1).values
    assert gaps.max() <= spacing and len(every) < head.n_vertices / 4


def test_strain_finds_the_skin_that_stretches_not_the_skin_carried_along():
    """Two expressions on a 5 x 5 cm grid: one lifts the left edge by 1 cm, the lift fading out
    over x = 0.5..1.5 (a bend of at most 41 % along x); the other stretches the far end, x > 4 cm,
    by 50 % (moving it at most 0.5 cm)."""
    head = corner_head()
    x = head.neutral[:, 0]
    lift = torch.zeros_like(head.neutral)
    lift[:, 2] = torch.clamp(1.5 - x, 0, 1)
    stretch = torch.zeros_like(head.neutral)
    stretch[:, 0] = torch.clamp(x - 4.0, min=0) * 0.5
    head.expression_basis = torch.stack([lift, stretch])
    expressions = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    moved, _, _ = choose_controls(head, expressions, SparseControlConfig(tau=0.9))
    assert len(moved) and (x[moved] <= 0.6).all()  # displacement: the lifted edge
    stretched, _, _ = choose_controls(head, expressions, SparseControlConfig(tau=0.9, criterion="strain"))
    assert len(stretched) and (x[stretched] >= 4).all()  # strain: the stretched end
    with pytest.raises(ValueError, match="criterion"):
        SparseControl(SparseControlConfig(criterion="area"), BuildContext(head, 0, expressions))
    # Relative to each edge's length: the same head twice as large strains as much.
    strain = expression_strain(head.neutral, head.expression_basis, head.triangles, expressions)
    larger = expression_strain(2 * head.neutral, 2 * head.expression_basis, head.triangles, expressions)
    torch.testing.assert_close(larger, strain)


def test_weights_sum_to_one_near_a_control_vanish_at_the_radius_and_are_continuous_there():
    plateau, radius = 0.5, 1.5
    inf = np.inf
    near = following_weights(
        np.array([[0.2, 0.6, 1.0, inf], [0.0, 0.5, inf, inf]]), plateau=plateau, radius=radius
    )
    np.testing.assert_allclose(near.sum(axis=1), 1.0, rtol=1e-6)
    assert near[1, 0] > 0.999  # a vertex at a control follows it alone
    beyond = following_weights(np.array([[radius, 1.7, inf, inf]]), plateau=plateau, radius=radius)
    assert not beyond.any()
    # One control in reach: its weight falls to nothing as it recedes to the radius, no jump.
    lone = [
        following_weights(np.array([[d, inf, inf, inf]]), plateau=plateau, radius=radius)[0, 0]
        for d in (1.4, 1.49, 1.499)
    ]
    assert lone[0] > lone[1] > lone[2] and lone[2] < 1e-5
    mid = following_weights(np.array([[1.0, 1.2, inf, inf]]), plateau=plateau, radius=radius)
    assert 0 < mid.sum() < 1


def test_a_sheet_one_millimetre_away_joined_only_far_away_does_not_follow():
    columns = 41  # 10 cm along x
    x = np.arange(columns) * STEP
    sheet = np.stack([np.tile(x, 2), np.repeat([0.0, STEP], columns), np.zeros(2 * columns)], 1)
    positions = np.concatenate([sheet, sheet + np.array([0, 0, 0.1])])
    bridge = [
        [columns - 1, 2 * columns - 1, 3 * columns - 1],
        [columns - 1, 3 * columns - 1, 4 * columns - 1],
    ]
    triangles = np.concatenate([grid_triangles(2, columns), grid_triangles(2, columns, 2 * columns), bridge])
    index, distance = geodesic_neighbours(edge_graph(positions, triangles), np.array([0]), count=1, limit=1.5)
    weights = following_weights(distance, plateau=0.5, radius=1.5)
    assert weights[1, 0] == pytest.approx(1.0) and weights[5, 0] > 0  # along its own sheet
    other = slice(2 * columns, 4 * columns)
    assert np.linalg.norm(positions[other][0] - positions[0]) == pytest.approx(0.1)
    assert not weights[other].any() and np.isinf(distance[other]).all()
    assert (index[other] == 0).all()


@pytest.fixture(scope="module")
def speaking_folder(tmp_path_factory, ict_model):
    return write_speaking_subject(tmp_path_factory.mktemp("speaking") / "subject", ict_model)


@pytest.fixture(scope="module")
def speaking_subject(speaking_folder):
    return load_subject(speaking_folder)


def _with_sparse_control(ict_model, subject, mode="linear"):
    config = tiny_config(32)
    config.avatar.mesh_deformers["sparse_control"] = SparseControlConfig(mode=mode)
    return new_avatar(ict_model, subject, config)


def test_at_creation_it_moves_nothing_and_its_controls_are_on_the_moving_face(ict_model, speaking_subject):
    plain = new_avatar(ict_model, speaking_subject, tiny_config(32))
    avatar = _with_sparse_control(ict_model, speaking_subject)
    deformer = avatar.mesh_deformers["sparse_control"]
    assert list(avatar.mesh_deformers) == ["personal_blendshapes", "still_torso", "sparse_control"]
    assert 10 < len(deformer.controls) < 1000
    # The clip opens the jaw: the controls lie low on the face, the chin among them.
    heights = avatar.head.neutral[:, 1]
    chin = int(heights[deformer.controls].argmin())
    assert heights[deformer.controls].mean() < heights[avatar.head.vertex_eye >= 0].mean()
    assert heights[deformer.controls][chin] < heights[avatar.head.vertex_eye >= 0].min() - 5
    expression = torch.from_numpy(speaking_expression(ict_model, 15)[4])
    for condition in (avatar.condition(expression), avatar.condition(avatar.neutral_expression)):
        assert torch.equal(avatar.render(condition).image, plain.render(condition).image)


def _displacement(avatar, expression):
    """(V, 3) what sparse control adds to the mesh at ``expression``."""
    ctx = DeformContext(avatar.condition(expression), avatar.head, avatar.gaussians)
    deformer = avatar.mesh_deformers["sparse_control"]
    return deformer(torch.zeros(avatar.head.n_vertices, 3), ctx)


def _model_mesh(avatar, expression):
    return avatar.mesh(
        avatar.condition(expression, rotation=torch.eye(3), translation=torch.zeros(3), torso=None)
    )[0]


@pytest.mark.parametrize("mode", ["linear", "mlp"])
def test_the_linear_form_is_linear_in_the_weights_and_exports_and_the_mlp_is_not(
    ict_model, speaking_subject, mode
):
    avatar = _with_sparse_control(ict_model, speaking_subject, mode)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in avatar.mesh_deformers["sparse_control"].parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    n = len(avatar.expression_names)
    zero = _displacement(avatar, torch.zeros(n))
    deltas = torch.stack([_displacement(avatar, unit) - zero for unit in torch.eye(n)])
    expression = torch.rand(n, generator=generator)
    exact = _model_mesh(avatar, expression)
    moved = _displacement(avatar, expression)
    error = (zero + torch.einsum("e,evd->vd", expression, deltas) - moved).abs().max().item()
    if mode == "linear":
        assert error < 1e-5
        linear = linearise(avatar)
        used = np.unique(avatar.head.triangles[avatar.gaussians.triangle].numpy())
        export = linear.vertices + np.einsum(
            "e,evd->vd", expression.numpy(), linear.vertex_deltas.astype(np.float32)
        )
        np.testing.assert_allclose(export, exact[used].detach().numpy(), atol=2e-3)  # float16 deltas
    else:
        assert error > 1e-3
    deformer = avatar.mesh_deformers["sparse_control"]
    with torch.no_grad():
        for parameter in deformer.parameters():
            parameter.zero_()
    still = _model_mesh(avatar, expression)
    assert (exact - still)[deformer.controls].norm(dim=1).max() > 0.05  # it did move the mesh


def test_trained_from_the_command_line_it_learns_and_loads_back(
    ict_model, speaking_folder, speaking_subject, tmp_path
):
    run = tmp_path / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
        args = ["train", str(speaking_folder), "-o", str(run), "--steps", "6", "--size", "32"]
        args += ["--texels-per-cm", "0.5", "--deformer", "sparse_control", "--no-completion"]
        assert main(args) == 0
    avatar = load_avatar(run)  # strictly: the saved controls' count sizes the loaded deformer
    deformer = avatar.mesh_deformers["sparse_control"]
    train, _ = speaking_subject.split()
    expressions = torch.as_tensor(speaking_subject.tracking["expression"][train])
    controls, _, weights = choose_controls(avatar.head, expressions, SparseControlConfig())
    np.testing.assert_array_equal(deformer.controls.numpy(), controls)
    np.testing.assert_array_equal(deformer.neighbour_weight.numpy(), weights)
    assert deformer.linear.shape == (len(controls), len(avatar.expression_names), 3)
    assert deformer.linear.abs().max() > 0  # it learned
