"""Files written whole or not at all, into folders made for them."""

import pytest

from headsplat.io.atomic import atomic_write
from headsplat.io.errors import InputError


def test_a_file_gets_its_missing_folders_and_a_failed_write_takes_them_back(tmp_path):
    target = tmp_path / "new" / "deeper" / "out.txt"
    assert atomic_write(target, lambda p: p.write_text("done")) == target
    assert target.read_text() == "done"

    def fail(partial):
        partial.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(tmp_path / "other" / "deeper" / "out.txt", fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]  # no "other", no partial file
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "new" / "again.txt", fail)
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["deeper"]  # it was there before
    (tmp_path / "a_file").write_text("")
    with pytest.raises(InputError, match="a_file: is a file"):
        atomic_write(tmp_path / "a_file" / "out.txt", lambda p: p.write_text(""))
