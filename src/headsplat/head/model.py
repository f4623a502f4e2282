"""The head-model protocol: a linear morphable mesh with UVs, regions and a landmark correspondence.

Every head model headsplat uses (ICT-FaceKit by default, FLAME when a user supplies it) is linear:

    V(identity, expression) = neutral + identity_basis . identity + expression_basis . expression

Head pose is a rigid transform applied on top; the jaw is a blendshape. Gaze is a rotation of each
eyeball about its centre (:func:`apply_gaze`): ICT's ``eyeLook*`` blendshapes move only the lids.
The same linear form holds for any point on the surface given as (triangle, barycentric), which
is what the tracker and the Gaussian binding use (:meth:`LinearShape.at_surface_points`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import torch

from headsplat.geometry import axis_angle_to_matrix


def split_quads(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate a mixed quad/triangle face list along each quad's (0, 2) diagonal.

    Args:
        faces: (F, 4) int corner indices; a triangle has -1 in its 4th column.

    Returns:
        triangles (T, 3) corner indices and source (T,) the face each triangle came from. Quads
        give (a, b, c) then (a, c, d), so applying this to positions and to UV indices with the
        same face list keeps every triangle's UV corners matched to its vertex corners.
    """
    faces = np.asarray(faces)
    is_quad = faces[:, 3] >= 0
    first = faces[:, :3]
    second = faces[is_quad][:, [0, 2, 3]]
    source = np.concatenate([np.arange(len(faces)), np.flatnonzero(is_quad)])
    triangles = np.concatenate([first, second])
    order = np.argsort(source, kind="stable")  # keep each face's triangles together
    return triangles[order].astype(np.int64), source[order]


def barycentric_interpolate(values: np.ndarray, triangles: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Interpolate per-vertex values at surface points.

    Args:
        values: (..., V, D) per-vertex values (leading dims are bases or frames).
        triangles: (P, 3) vertex indices of each point's triangle.
        bary: (P, 3) barycentric weights.

    Returns:
        (..., P, D) interpolated values.
    """
    corners = values[..., triangles, :]  # (..., P, 3, D)
    return np.einsum("...pcd,pc->...pd", corners, bary)


def gaze_rotation(gaze: torch.Tensor) -> torch.Tensor:
    """(..., 2) gaze (yaw, pitch) in radians -> (..., 3, 3) rotation in model axes.

    Model axes: x to the subject's left, y up, z forward. Positive yaw turns the eye towards +x,
    positive pitch looks up.
    """
    yaw, pitch = gaze.unbind(-1)
    return axis_angle_to_matrix(torch.stack([-pitch, yaw, torch.zeros_like(yaw)], dim=-1))


def apply_gaze(
    points: torch.Tensor, eye: np.ndarray, centres: torch.Tensor, gaze: torch.Tensor
) -> torch.Tensor:
    """Rotate the points that belong to an eyeball about that eyeball's centre.

    Args:
        points: (..., P, 3) positions in model space.
        eye: (P,) 0 or 1 for points of the first or second eyeball, -1 for the rest.
        centres: (..., 2, 3) eyeball centres. gaze: (..., 2, 2) (yaw, pitch) per eye.

    Returns:
        (..., P, 3) positions, eyeball points rotated.
    """
    moving = torch.from_numpy(np.flatnonzero(eye >= 0)).to(points.device)
    if len(moving) == 0:
        return points
    which = torch.from_numpy(eye[eye >= 0]).to(points.device)
    R = gaze_rotation(gaze).index_select(-3, which)  # (..., M, 3, 3)
    centre = centres.index_select(-2, which)
    # index_select, not points[..., moving, :]: its backward sums in a fixed order on the CPU,
    # where advanced indexing's adds with float atomics (training would not be deterministic).
    eyeballs = points.index_select(-2, moving)
    rotated = ((eyeballs - centre)[..., None, :] @ R.transpose(-1, -2))[..., 0, :] + centre
    return points.index_copy(-2, moving, rotated)


def project_expression(correction: torch.Tensor, tracked: torch.Tensor) -> torch.Tensor:
    """The expression ``correction`` moved so that ``tracked + correction`` lies in [0, 1], the
    weights' range (projected gradient descent, for the trackers and the per-frame corrections: a
    clamp inside the render would give corrections outside the range a zero gradient, and they
    could never come back)."""
    return (tracked + correction).clamp(0, 1) - tracked


@dataclass(frozen=True)
class LinearShape:
    """Points that move linearly with identity and expression coefficients.

    Attributes:
        mean: (P, 3) positions at zero coefficients.
        identity_basis: (I, P, 3) position change per unit identity coefficient.
        expression_basis: (E, P, 3) position change per unit expression weight.
    """

    mean: np.ndarray
    identity_basis: np.ndarray
    expression_basis: np.ndarray

    def evaluate(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """Positions for one identity and any batch of expressions.

        Args:
            identity: (I,) or (..., I) identity coefficients (standard deviations).
            expression: (..., E) expression weights, nominally in [0, 1].

        Returns:
            (..., P, 3) positions, in the dtype and device of ``expression``.
        """
        like = expression
        mean = torch.as_tensor(self.mean, dtype=like.dtype, device=like.device)
        id_basis = torch.as_tensor(self.identity_basis, dtype=like.dtype, device=like.device)
        ex_basis = torch.as_tensor(self.expression_basis, dtype=like.dtype, device=like.device)
        shape = mean + torch.einsum("...i,ipd->...pd", identity, id_basis)
        return shape + torch.einsum("...e,epd->...pd", expression, ex_basis)

    def at_surface_points(self, triangles: np.ndarray, bary: np.ndarray) -> LinearShape:
        """The same linear model restricted to surface points (barycentric interpolation).

        Args:
            triangles: (P, 3) vertex indices. bary: (P, 3) barycentric weights.
        """
        return LinearShape(
            barycentric_interpolate(self.mean, triangles, bary).astype(np.float32),
            barycentric_interpolate(self.identity_basis, triangles, bary).astype(np.float32),
            barycentric_interpolate(self.expression_basis, triangles, bary).astype(np.float32),
        )


@dataclass(frozen=True)
class PointRig:
    """Points driven by identity, expression and gaze: a linear shape plus eyeball rotation.

    Attributes:
        shape: the linear model of the P points.
        eye: (P,) 0 / 1 for points on the first / second eyeball, -1 elsewhere.
        eye_centres: linear model of the two eyeball centres, or None for a rig without eyes.
    """

    shape: LinearShape
    eye: np.ndarray
    eye_centres: LinearShape | None = None

    @property
    def has_eyes(self) -> bool:
        return self.eye_centres is not None and bool((self.eye >= 0).any())

    def evaluate(
        self, identity: torch.Tensor, expression: torch.Tensor, gaze: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(..., P, 3) positions; ``gaze`` (..., 2, 2) is (yaw, pitch) per eye in radians."""
        points = self.shape.evaluate(identity, expression)
        if gaze is None or not self.has_eyes:
            return points
        return apply_gaze(points, self.eye, self.eye_centres.evaluate(identity, expression), gaze)


@dataclass(frozen=True)
class SurfacePoints:
    """Points bound to a mesh surface: each is a triangle index and barycentric weights.

    Attributes:
        triangle: (P,) triangle indices into :attr:`HeadModel.triangles`.
        bary: (P, 3) barycentric weights summing to 1.
    """

    triangle: np.ndarray
    bary: np.ndarray

    def __len__(self) -> int:
        return len(self.triangle)


@dataclass(frozen=True)
class UVLayout:
    """A mesh's UV layout by material, with the positions its world sizes are measured on.

    Attributes:
        vertices: (V, 3). triangles: (T, 3) vertex indices. triangle_uvs: (T, 3, 2).
        triangle_material: (T,) index into ``material_names``.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    triangle_uvs: np.ndarray
    triangle_material: np.ndarray
    material_names: tuple[str, ...]

    def material_triangles(self, *names: str) -> np.ndarray:
        """Indices of the triangles whose material is one of ``names``."""
        ids = [self.material_names.index(n) for n in names]
        return np.flatnonzero(np.isin(self.triangle_material, ids))


@dataclass(frozen=True)
class HeadModel:
    """A linear head model with its mesh topology, UVs and material regions.

    Attributes:
        name: identifier written into subject folders (e.g. ``ict_facekit_light``).
        shape: the per-vertex linear model (V vertices).
        triangles: (T, 3) vertex indices, quads split by :func:`split_quads`.
        triangle_uvs: (T, 3, 2) UV coordinates of each triangle corner.
        triangle_face: (T,) index of the source polygon (quad or triangle) of each triangle.
        triangle_material: (T,) index into ``material_names``.
        material_names: names of the materials (e.g. ``M_Face``).
        expression_names: (E,) ARKit-style blendshape names.
        region_names: names of the vertex regions; ``region_ranges`` (R, 2) gives [start, end).
        landmarks: the MediaPipe 478-landmark correspondence, when the model has one.
        eyeball_regions: the two regions that rotate with gaze (first, second eye).
        checksum: sha256 of the model file it was loaded from ("" when built in memory).
    """

    name: str
    shape: LinearShape
    triangles: np.ndarray
    triangle_uvs: np.ndarray
    triangle_face: np.ndarray
    triangle_material: np.ndarray
    material_names: tuple[str, ...]
    expression_names: tuple[str, ...]
    region_names: tuple[str, ...]
    region_ranges: np.ndarray
    landmarks: SurfacePoints | None = None
    eyeball_regions: tuple[str, str] = ("eyeball_left", "eyeball_right")
    checksum: str = ""
    extra: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_vertices(self) -> int:
        return self.shape.mean.shape[0]

    @property
    def n_identity(self) -> int:
        return self.shape.identity_basis.shape[0]

    @property
    def n_expression(self) -> int:
        return self.shape.expression_basis.shape[0]

    def vertices(
        self, identity: torch.Tensor, expression: torch.Tensor, gaze: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mesh vertices (..., V, 3) in model units.

        Args:
            identity: (I,) coefficients. expression: (..., E) weights.
            gaze: (..., 2, 2) (yaw, pitch) per eye in radians, or None for straight ahead.
        """
        if gaze is None:
            return self.shape.evaluate(identity, expression)
        return PointRig(self.shape, self.vertex_eye, self.eye_centres).evaluate(identity, expression, gaze)

    @cached_property
    def vertex_eye(self) -> np.ndarray:
        """(V,) 0 / 1 for vertices of the first / second eyeball, -1 elsewhere (computed once)."""
        eye = np.full(self.n_vertices, -1, dtype=np.int64)
        if all(name in self.region_names for name in self.eyeball_regions):
            for k, name in enumerate(self.eyeball_regions):
                eye[self.region(name)] = k
        return eye

    def point_eye(self, points: SurfacePoints) -> np.ndarray:
        """(P,) eyeball (0 / 1) of surface points whose triangle lies on an eyeball, else -1."""
        corners = self.vertex_eye[self.triangles[points.triangle]]
        return np.where((corners == corners[:, :1]).all(1), corners[:, 0], -1)

    @cached_property
    def eye_centres(self) -> LinearShape:
        """The two eyeball centres as a linear model (P = 2), computed once per model.

        The centre of the sphere that best fits each neutral eyeball, carried along by the mean
        deformation of that eyeball's vertices (so identity and expression move it too).
        """
        eye = self.vertex_eye
        means, ids, exps = [], [], []
        for k in (0, 1):
            index = np.flatnonzero(eye == k)
            if len(index) == 0:
                raise ValueError(f"{self.name} has no region {self.eyeball_regions[k]!r}")
            offset = sphere_centre(self.shape.mean[index]) - self.shape.mean[index].mean(0)
            means.append(self.shape.mean[index].mean(0) + offset)
            ids.append(self.shape.identity_basis[:, index].mean(1))
            exps.append(self.shape.expression_basis[:, index].mean(1))
        return LinearShape(
            np.stack(means).astype(np.float32),
            np.stack(ids, 1).astype(np.float32),
            np.stack(exps, 1).astype(np.float32),
        )

    def expression_index(self, name: str) -> int:
        return self.expression_names.index(name)

    def region(self, name: str) -> slice:
        start, end = self.region_ranges[self.region_names.index(name)]
        return slice(int(start), int(end))

    def material_triangles(self, *names: str) -> np.ndarray:
        """Indices of the triangles whose material is one of ``names``."""
        return self.uv_layout.material_triangles(*names)

    @cached_property
    def uv_layout(self) -> UVLayout:
        """The UV layout, sized on the template (mean) shape."""
        return UVLayout(
            self.shape.mean, self.triangles, self.triangle_uvs, self.triangle_material, self.material_names
        )

    def surface_shape(self, points: SurfacePoints) -> LinearShape:
        """The linear model of points bound to the surface."""
        return self.shape.at_surface_points(self.triangles[points.triangle], points.bary)

    def rig(self, points: SurfacePoints) -> PointRig:
        """Surface points with everything that moves them: shape bases and eyeball gaze."""
        has_eyes = all(name in self.region_names for name in self.eyeball_regions)
        return PointRig(
            self.surface_shape(points), self.point_eye(points), self.eye_centres if has_eyes else None
        )

    def with_landmarks(self, landmarks: SurfacePoints) -> HeadModel:
        return replace(self, landmarks=landmarks)


def sphere_centre(points: np.ndarray) -> np.ndarray:
    """Centre (3,) of the least-squares sphere through points (P, 3) (algebraic fit)."""
    A = np.c_[2 * points, np.ones(len(points))]
    b = (points**2).sum(1)
    solution, *_ = np.linalg.lstsq(A.astype(np.float64), b.astype(np.float64), rcond=None)
    return solution[:3]
