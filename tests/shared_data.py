"""Where the team's shared test data lives (``../shared/data`` next to the repository)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ICT_NPZ = SHARED_DATA / "ict_facekit" / "ict_facekit_light.npz"


def require_shared(path: Path = ICT_NPZ) -> Path:
    """Skip the calling test with the reason when the shared data is not beside the repository."""
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (it lives in ../shared beside the repository)")
    return path
