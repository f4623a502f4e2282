"""Shared fixtures for the preprocessing tests: the head model (loaded once) and d18 frames."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from tests.shared_data import require_ict_model

from .helpers import D18, require_shared, resized


@pytest.fixture(scope="session")
def head_cache(tmp_path_factory):
    """A private headsplat cache folder for this test folder (the landmark correspondence goes here)."""
    return tmp_path_factory.mktemp("headsplat_cache")


@pytest.fixture(autouse=True)
def _private_cache(head_cache, monkeypatch):
    """Every test (and every CLI call in it) uses the private cache and no ambient model path."""
    monkeypatch.setenv("HEADSPLAT_CACHE", str(head_cache))
    monkeypatch.delenv("HEADSPLAT_ICT_MODEL", raising=False)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tracking optimises tensors of a few thousand numbers: with 2 threads each op pays OpenMP
    hand-over costs, which on a busy 2-core machine makes the fits 10-30x slower than 1 thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_path():
    return require_ict_model()


@pytest.fixture(scope="session")
def head_model(model_path, head_cache):
    """The shared ICT model with its landmark correspondence, derived once into the private cache."""
    from headsplat.head import load_head_model
    from headsplat.preprocess.landmarks import detect_single_image

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSPLAT_CACHE", str(head_cache))
        return load_head_model(model_path, detect_single_image)


@pytest.fixture(scope="session")
def d18_source() -> np.ndarray:
    """The first 24 frames of d18.mp4 (480x480, one frontal face), RGB."""
    from headsplat.io.video import iter_mp4

    frames = np.stack(list(islice(iter_mp4(require_shared(D18)), 24)))
    assert frames.shape == (24, 480, 480, 3)
    return frames


@pytest.fixture(scope="session")
def d18_160(d18_source) -> np.ndarray:
    """The same frames at 160x160: small enough to preprocess in seconds."""
    return np.stack([resized(f, 160) for f in d18_source])
