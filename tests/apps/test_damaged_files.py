"""A truncated avatar or checkpoint: every command that reads it says which file and what to do,
exits with 2, and writes nothing; the fix it names works."""

import shutil

import pytest

from headsplat.cli import main
from headsplat.io.run import RunFolder


def _truncate(path) -> None:
    """Keep the first half of ``path``: a copy or a download cut short."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def damaged_run(trained_run, tmp_path):
    """A copy of the trained run whose avatar.safetensors is cut in half: (run, subject)."""
    run, subject = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("eval", "*.mp4", "*.ply"))
    _truncate(copy / "avatar.safetensors")
    return copy, subject


def test_a_damaged_avatar_is_an_error_naming_the_file_and_the_fix(damaged_run, tmp_path, capsys):
    run, subject = damaged_run
    avatar = run / "avatar.safetensors"
    commands = [
        ["render", str(run), "--orbit", "--frames", "2"],
        ["render", str(avatar), "--orbit", "--frames", "2"],  # the avatar file alone
        ["eval", str(run)],
        ["export", str(run), "--ply", str(tmp_path / "out" / "avatar.ply")],
    ]
    before = sorted(p.name for p in run.iterdir())
    for args in commands:
        assert main(args) == 2, args
        error = capsys.readouterr().err
        assert error.startswith("error: ") and str(avatar) in error and "--resume" in error, error
        assert "Traceback" not in error
    assert sorted(p.name for p in run.iterdir()) == before  # no eval/, no orbit.mp4
    assert not (tmp_path / "out").exists()

    # The fix it names: the avatar written again from the run's last checkpoint.
    avatar.unlink()
    assert main(["train", str(subject), "-o", str(run), "--resume"]) == 0
    assert main(["render", str(run), "--orbit", "--frames", "2", "--size", "16"]) == 0


def test_a_damaged_checkpoint_is_an_error_naming_it(damaged_run, capsys):
    run, subject = damaged_run
    (run / "avatar.safetensors").unlink()
    latest = RunFolder(run).latest_checkpoint().with_suffix(".safetensors")
    _truncate(latest)
    assert main(["train", str(subject), "-o", str(run), "--resume"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and str(latest) in error and "the one before it" in error
    assert main(["render", str(run), "--orbit"]) == 2  # what it would render from
    assert str(latest) in capsys.readouterr().err
    assert not (run / "orbit.mp4").exists() and not (run / "avatar.safetensors").exists()
