"""Shared fixtures: the suite runs on 2 CPU cores, so torch stays at 2 threads."""

import pytest
import torch

from tests.shared_data import require_shared

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def ict_model(tmp_path_factory):
    """The shared ICT model, loaded once (its landmark correspondence derived into a temporary cache)."""
    from headsplat.head import load_head_model
    from headsplat.preprocess.landmarks import detect_single_image

    path = require_shared()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSPLAT_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_head_model(path, detect_single_image)


@pytest.fixture(scope="session")
def synthetic_subject(tmp_path_factory, ict_model):
    """A 64 px subject of the ICT head turning (:func:`tests.synthetic_subject.write_synthetic_subject`)."""
    from tests.synthetic_subject import write_synthetic_subject

    return write_synthetic_subject(tmp_path_factory.mktemp("subject") / "synthetic", ict_model, 64)
