"""Shared fixtures: the suite runs on 2 CPU cores, so torch stays at 2 threads."""

import pytest
import torch

from tests.shared_data import require_shared

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def ict_model(tmp_path_factory):
    """The shared ICT model, loaded once (its landmark correspondence derived into a temporary cache)."""
    from headsplat.head import load_head_model

    path = require_shared()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSPLAT_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_head_model(path)
