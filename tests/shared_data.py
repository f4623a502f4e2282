"""Where the team's shared test data lives (``../shared/data`` next to the repository), and where a
user's own head model is (``$HEADSPLAT_ICT_MODEL``, or the cache after ``headsplat model download``)."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ICT_NPZ = SHARED_DATA / "ict_facekit" / "ict_facekit_light.npz"
D18 = SHARED_DATA / "liveportrait_clips" / "d18.mp4"


def require_shared(path: Path = ICT_NPZ) -> Path:
    """Skip the calling test with the reason when the shared data is not beside the repository."""
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (it lives in ../shared beside the repository)")
    return path


def require_ict_model() -> Path:
    """The ICT-FaceKit model file headsplat would read: ``$HEADSPLAT_ICT_MODEL`` when it is set
    (README), else the shared copy, else the headsplat cache (where ``headsplat model download``
    puts it); skips the test when it is not there."""
    from headsplat.head.ict import MODEL_ENV, MODEL_NAME, cache_dir

    if os.environ.get(MODEL_ENV):
        candidates = [Path(os.environ[MODEL_ENV])]
    else:
        candidates = [ICT_NPZ, cache_dir() / f"{MODEL_NAME}.npz"]
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip(
        "the ICT-FaceKit head model was found nowhere (looked at "
        + ", ".join(str(p) for p in candidates)
        + f"); get it with `headsplat model download` or set ${MODEL_ENV} to the file"
    )
