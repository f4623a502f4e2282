"""The run folder's one rule for long commands (train, fit): --resume continues, --overwrite
restarts, neither on an existing run is an error naming both; and what a run records."""

import json

import pytest

from headsplat.cli import main
from headsplat.io.errors import InputError
from headsplat.io.run import RunFolder


def test_the_rule_for_an_existing_folder(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert run.prepare(resume=False, overwrite=False) is False  # a new run
    run.write_config(tmp_path / "subject", "abc", {"steps": 1})
    (run.path / "eval").mkdir()
    (run.path / "keep").mkdir()
    with pytest.raises(InputError, match="--resume to continue it or --overwrite to restart it"):
        run.prepare(resume=False, overwrite=False)
    with pytest.raises(InputError, match="pass one of them"):
        run.prepare(resume=True, overwrite=True)
    assert run.prepare(resume=True, overwrite=False) is True
    assert run.prepare(resume=False, overwrite=True, keep=("keep",)) is False
    assert [p.name for p in run.path.iterdir()] == ["keep"]
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("mine")
    for resume, overwrite in ((False, False), (True, False), (False, True)):
        with pytest.raises(InputError, match="not a headsplat run folder"):
            RunFolder(stranger).prepare(resume=resume, overwrite=overwrite)
    assert (stranger / "thesis.tex").read_text() == "mine"


def test_the_config_is_written_atomically_and_records_the_subject(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.write_config(tmp_path / "run" / "subject", "abc", {"steps": 1})
    run.write_config(tmp_path / "elsewhere", "def", {"steps": 2})
    values = json.loads(run.config_path.read_text())
    assert values["subject"] == {"path": str((tmp_path / "elsewhere").resolve()), "fingerprint": "def"}
    assert [p.name for p in run.path.iterdir()] == ["config.json"]  # no temporary file left
    run.write_config(tmp_path / "run" / "subject", "abc", {"steps": 1})
    assert run.read_config()["subject"]["path"] == "subject"  # inside: relative, the run can move
    assert run.subject_path() == run.path / "subject"


def test_a_run_of_another_format_is_refused_with_the_fix(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"subject": "/x", "steps": 2000}))
    with pytest.raises(InputError, match="--overwrite"):
        RunFolder(tmp_path).read_config()


def test_resume_without_a_checkpoint_starts_from_step_0_and_another_subject_is_refused(
    trained_run, ict_model, tmp_path, monkeypatch, capsys
):
    import shutil

    _, subject = trained_run
    monkeypatch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
    run = RunFolder(tmp_path / "run")
    # A run killed before its first checkpoint: only its config.json.
    args = [
        "train",
        str(subject),
        "-o",
        str(run.path),
        "--size",
        "32",
        "--texels-per-cm",
        "0.5",
        "--steps",
        "2",
    ]
    run.write_config(subject, None, {})
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--set", "checkpoint_every=1"]) == 0
    shutil.rmtree(run.checkpoints)
    (run.avatar_path).unlink()
    assert main(["train", str(subject), "-o", str(run.path), "--resume"]) == 0
    assert "no checkpoint yet: starting it from step 0" in capsys.readouterr().err
    assert run.latest_checkpoint().name == "step_0000002.json"
    assert len(list(run.checkpoints.glob("*.json"))) == 2  # the newest two are kept
    # Settings for a run that continues are refused, not ignored.
    assert main(["train", str(subject), "-o", str(run.path), "--resume", "--set", "loss.ssim_weight=0"]) == 2
    assert "own settings" in capsys.readouterr().err
    other = tmp_path / "other"
    shutil.copytree(subject, other)
    with open(other / "tracking.npz", "ab") as stream:
        stream.write(b"\0")
    assert main(["train", str(other), "-o", str(run.path), "--resume"]) == 2
    assert "was trained on the subject" in capsys.readouterr().err
