"""The shared ICT model, loaded once (its landmark correspondence derived into a temporary cache)."""

import pytest

from tests.shared_data import require_shared


@pytest.fixture(scope="session")
def ict_model(tmp_path_factory):
    from headsplat.head import load_head_model

    path = require_shared()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSPLAT_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_head_model(path)
