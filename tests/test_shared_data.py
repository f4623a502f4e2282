"""Where the tests find the head model: where headsplat itself looks first."""

import pytest

from tests.shared_data import ICT_NPZ, require_ict_model


def test_the_model_named_by_the_environment_comes_first(tmp_path, monkeypatch):
    own = tmp_path / "my_ict.npz"
    own.write_bytes(b"")
    monkeypatch.setenv("HEADSPLAT_ICT_MODEL", str(own))
    assert require_ict_model() == own
    monkeypatch.setenv("HEADSPLAT_ICT_MODEL", str(tmp_path / "missing.npz"))
    with pytest.raises(pytest.skip.Exception, match=r"missing\.npz"):
        require_ict_model()
    monkeypatch.delenv("HEADSPLAT_ICT_MODEL")
    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "cache"))
    if ICT_NPZ.is_file():
        assert require_ict_model() == ICT_NPZ
