"""The MediaPipe landmark correspondence derived by rendering ICT, checked against MediaPipe's own
canonical face mesh (which the product never reads: it is test-only shared data)."""

import numpy as np

from headsplat.head.correspondence import IRIS_LANDMARKS
from headsplat.preprocess.landmarks import contour_landmarks
from tests.shared_data import SHARED_DATA, require_shared

ANCHORS = [33, 133, 362, 263, 1, 61, 291]  # eye corners, nose tip, mouth corners


def _similarity(source: np.ndarray, target: np.ndarray):
    """Least-squares scale, rotation and translation taking source points onto target (Umeyama)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    U, S, Vt = np.linalg.svd(t.T @ s)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    scale = (S * np.diag(D)).sum() / (s**2).sum()
    return lambda p: scale * p @ R.T + mu_t - scale * R @ mu_s


def test_lifted_landmarks_lie_where_mediapipe_canonical_mesh_puts_them(ict_model):
    obj = require_shared(SHARED_DATA / "mediapipe_face_mesh" / "face_model_with_iris.obj")
    canonical = np.array(
        [
            [float(x) for x in line.split()[1:4]]
            for line in obj.read_text().splitlines()
            if line.startswith("v ")
        ]
    )
    lifted = ict_model.surface_shape(ict_model.landmarks).mean
    assert lifted.shape == canonical.shape == (478, 3)
    distance = np.linalg.norm(_similarity(canonical[ANCHORS], lifted[ANCHORS])(canonical) - lifted, axis=1)
    inner = np.setdiff1d(np.arange(478), contour_landmarks())
    # Measured: 0.37 cm mean, 1.8 cm max (the two faces are different people); a landmark
    # permutation or a lift through the eye would be several cm off.
    assert distance[inner].mean() < 0.6
    assert np.percentile(distance[inner], 95) < 1.2
    assert distance[IRIS_LANDMARKS].mean() < 0.6


def test_iris_landmarks_sit_on_the_eyeballs_and_the_rest_on_the_skin(ict_model):
    material = np.array(ict_model.material_names)[ict_model.triangle_material[ict_model.landmarks.triangle]]
    assert set(material[IRIS_LANDMARKS]) <= {"M_ScleraLeft", "M_ScleraRight"}
    assert set(np.delete(material, IRIS_LANDMARKS)) == {"M_Face"}
    assert np.allclose(ict_model.landmarks.bary.sum(1), 1, atol=1e-5)
    assert (ict_model.landmarks.bary >= -1e-6).all()
