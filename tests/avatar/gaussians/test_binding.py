"""Binding maths: Gaussians follow their triangles exactly; quaternion helpers agree with matrices."""

import torch

from headsplat.avatar.gaussians.binding import bind, face_frames
from headsplat.geometry import (
    axis_angle_to_matrix,
    matrix_to_quaternion,
    quaternion_multiply,
    quaternion_to_matrix,
)

D = torch.float64


def _mesh(n_triangles: int = 40, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    vertices = torch.randn(3 * n_triangles, 3, generator=generator, dtype=D)
    triangles = torch.arange(3 * n_triangles).reshape(-1, 3)
    n = 200
    triangle = torch.randint(0, n_triangles, (n,), generator=generator)
    bary = torch.distributions.Dirichlet(torch.ones(3, dtype=D)).sample((n,))
    offset = 0.1 * torch.randn(n, generator=generator, dtype=D)
    quats = torch.randn(n, 4, generator=generator, dtype=D)
    log_scales = 0.3 * torch.randn(n, 3, generator=generator, dtype=D)
    gaussians = {
        "triangle": triangle,
        "bary": bary,
        "offset": offset,
        "local_quats": quats,
        "log_scales": log_scales,
    }
    return vertices, triangles, gaussians


def test_gaussians_follow_a_moved_rotated_scaled_mesh_exactly():
    vertices, triangles, gaussians = _mesh()
    before = bind(vertices, triangles, **gaussians)
    R = axis_angle_to_matrix(torch.tensor([0.4, -1.1, 2.0], dtype=D))
    t = torch.tensor([3.0, -2.0, 0.5], dtype=D)
    s = 1.7
    after = bind(s * vertices @ R.T + t, triangles, **gaussians)
    assert torch.allclose(after.means, s * before.means @ R.T + t, atol=1e-10)
    assert torch.allclose(
        quaternion_to_matrix(after.quats), R @ quaternion_to_matrix(before.quats), atol=1e-10
    )
    assert torch.allclose(after.scales, s * before.scales, atol=1e-10)


def test_frame_is_orthonormal_right_handed_with_the_normal_last():
    vertices, triangles, _ = _mesh()
    frames = face_frames(vertices, triangles)
    eye = torch.eye(3, dtype=D).expand_as(frames.rotation)
    assert torch.allclose(frames.rotation.transpose(-1, -2) @ frames.rotation, eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(frames.rotation), torch.ones(len(triangles), dtype=D))
    corners = vertices[triangles]
    normal = torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1)
    assert torch.allclose(frames.rotation[..., 2], torch.nn.functional.normalize(normal, dim=-1))


def test_zero_offset_puts_the_mean_on_the_triangle_at_its_barycentric_point():
    vertices, triangles, gaussians = _mesh()
    triangle, bary, offset = gaussians["triangle"], gaussians["bary"], gaussians["offset"]
    world = bind(vertices, triangles, **(gaussians | {"offset": torch.zeros_like(offset)}))
    expected = (bary[:, :, None] * vertices[triangles[triangle]]).sum(1)
    assert torch.allclose(world.means, expected)
    # The offset moves it along the normal by that many mean edge lengths.
    moved = bind(vertices, triangles, **gaussians)
    edge = face_frames(vertices, triangles).scale[triangle]
    assert torch.allclose((moved.means - world.means).norm(dim=-1), offset.abs() * edge)


def test_binding_is_differentiable_and_batched_over_frames():
    vertices, triangles, gaussians = _mesh()
    frames = torch.stack([vertices, vertices * 2]).requires_grad_(True)
    world = bind(frames, triangles, **gaussians)
    assert world.means.shape == (2, 200, 3) and world.quats.shape == (2, 200, 4)
    assert torch.allclose(world.scales[1], 2 * world.scales[0])
    world.means.sum().backward()
    assert torch.isfinite(frames.grad).all() and frames.grad.abs().sum() > 0


def test_quaternions_round_trip_and_compose():
    R = axis_angle_to_matrix(torch.randn(500, 3, dtype=D) * 1.7)
    q = matrix_to_quaternion(R)
    assert torch.allclose(quaternion_to_matrix(q), R, atol=1e-12)
    assert (q[:, 0] >= 0).all() and torch.allclose(q.norm(dim=-1), torch.ones(500, dtype=D))
    a, b = q[:250], q[250:]
    assert torch.allclose(quaternion_to_matrix(quaternion_multiply(a, b)), R[:250] @ R[250:], atol=1e-12)


def test_the_binding_gradient_is_bitwise_repeatable_on_several_threads():
    """Advanced indexing's backward adds with float atomics from several threads once the index
    has 32k+ entries; the binding gathers through index_select instead, or training would differ
    from run to run (found on d18: the first step already differed in the blendshape corrections)."""
    generator = torch.Generator().manual_seed(0)
    vertices = torch.randn(300, 3, generator=generator)
    triangles = torch.randint(0, 300, (500, 3), generator=generator)
    n = 20_000
    triangle = torch.randint(0, 500, (n,), generator=generator)
    bary = torch.rand(n, 3, generator=generator)
    gaussians = {
        "triangle": triangle,
        "bary": bary,
        "offset": 0.1 * torch.randn(n, generator=generator),
        "local_quats": torch.randn(n, 4, generator=generator),
        "log_scales": torch.randn(n, 3, generator=generator),
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, 2))
    try:
        grads = []
        for _ in range(5):
            v = vertices.clone().requires_grad_(True)
            world = bind(v, triangles, **gaussians)
            weights = (torch.linspace(-1, 1, part.numel()).reshape(part.shape) for part in world)
            sum((part * w).sum() for part, w in zip(world, weights, strict=True)).backward()
            grads.append(v.grad)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(grads[0], g) for g in grads[1:])
