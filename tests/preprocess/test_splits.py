"""The novel-view split: frontal training frames, turned test frames, a gap between, the usual
last fifth for the frontal test frames; written as a subject folder that links to its source. And
the split to a few training frames (``--train-frames``), the test frames unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from headsplat.cli import main
from headsplat.io.errors import InputError
from headsplat.io.subject import load_subject
from headsplat.preprocess.splits import novel_view_split, write_split_subject


def a_turning_clip(n_frames: int = 200) -> np.ndarray:
    """(F,) yaw in degrees: a head that looks at the camera (+4 degrees off) and turns both ways
    twice, up to 30 degrees."""
    return 4.0 + 30.0 * np.sin(np.linspace(0, 4 * np.pi, n_frames)) ** 3


def test_the_automatic_limit_leaves_a_fifth_turned_and_the_gap_empty():
    yaw = a_turning_clip()
    split = novel_view_split(yaw)
    turn = np.abs(yaw - np.median(yaw))
    assert split.median_yaw == pytest.approx(np.median(yaw))
    assert len(split.turned) >= 0.2 * len(yaw) and len(split.turned) < 0.25 * len(yaw)
    assert turn[split.train].max() <= split.limit and turn[split.frontal].max() <= split.limit
    assert turn[split.turned].min() >= split.limit + 10.0
    # Frontal test frames come from the clip's last fifth, training frames from the rest.
    assert split.train.max() < 160 <= split.frontal.min()
    assert len(split.train) >= 0.1 * len(yaw) and len(split.frontal) > 0
    # Every frame is in one group at most; those in the gap in none.
    groups = np.concatenate([split.train, split.frontal, split.turned])
    assert len(np.unique(groups)) == len(groups)
    in_gap = (turn > split.limit) & (turn < split.limit + 10.0)
    assert not np.isin(np.flatnonzero(in_gap), groups).any()
    meta = split.meta()
    assert meta["test"] == sorted(split.frontal.tolist() + split.turned.tolist())
    assert meta["novel_view"]["turned"] == split.turned.tolist()
    assert np.allclose(meta["novel_view"]["yaw"], yaw - np.median(yaw), atol=0.01)


def test_a_given_limit_and_gap_are_kept():
    yaw = a_turning_clip()
    split = novel_view_split(yaw, limit=8.0, gap=4.0)
    turn = np.abs(yaw - np.median(yaw))
    assert split.limit == 8.0 and split.gap == 4.0
    assert set(split.turned.tolist()) == set(np.flatnonzero(turn >= 12.0).tolist())


def test_a_head_that_hardly_turns_is_refused_with_the_fix():
    still = np.random.default_rng(0).normal(0.0, 1.5, 300)
    with pytest.raises(InputError, match=r"turns too little.*--yaw-limit"):
        novel_view_split(still, where="d10")
    with pytest.raises(InputError, match=r"d10: .* 0 turned test frames"):
        novel_view_split(still, limit=3.0, where="d10")


def a_subject_folder(folder):
    """The files of a subject folder, as few as :func:`load_subject` reads."""
    (folder / "frames").mkdir(parents=True)
    (folder / "frames" / "000000.png").write_bytes(b"a frame")
    (folder / "masks").mkdir()
    np.savez(folder / "tracking.npz", rotation=np.zeros((5, 3, 3)), translation=np.zeros((5, 3)))
    meta = {"format_version": 1, "size": 64, "fps": 25.0, "split": {"train": [0, 1, 2, 3], "test": [4]}}
    (folder / "meta.json").write_text(json.dumps(meta))
    return load_subject(folder)


def test_a_split_subject_links_its_source_and_records_its_split(tmp_path):
    source = a_subject_folder(tmp_path / "source")
    split = {"train": [1, 2], "test": [0, 4], "novel_view": {"limit": 3.0}}
    out = write_split_subject(source, tmp_path / "split", split, overwrite=False)
    found = load_subject(out)
    assert found.split()[0].tolist() == [1, 2] and found.split()[1].tolist() == [0, 4]
    assert found.meta["split"]["novel_view"] == {"limit": 3.0} and found.meta["fps"] == 25.0
    assert found.meta["split_of"] == str(source.path.resolve())
    assert found.fingerprint == source.fingerprint  # eval --subject accepts either
    assert found.frame_path(0).read_bytes() == b"a frame"
    # A split of a split links to the files themselves.
    again = write_split_subject(found, tmp_path / "again", split, overwrite=False)
    assert (again / "frames").readlink() == (source.path / "frames").resolve()
    assert not list(tmp_path.glob(".*partial*"))
    with pytest.raises(InputError, match="already exists"):
        write_split_subject(source, out, split, overwrite=False)
    with pytest.raises(InputError, match="the source subject"):
        write_split_subject(source, source.path, split, overwrite=True)
    write_split_subject(source, out, {"train": [0], "test": [1]}, overwrite=True)
    assert load_subject(out).split()[0].tolist() == [0]
    assert (source.path / "frames" / "000000.png").is_file()  # replacing the links kept the source


def test_a_few_training_frames_split_keeps_the_test_frames_and_refuses_too_many(
    synthetic_subject, tmp_path, capsys
):
    source = load_subject(synthetic_subject)
    train, test = source.split()
    out = tmp_path / "three"
    assert main(["split", str(synthetic_subject), "-o", str(out), "--train-frames", "3"]) == 0
    assert "3 of 8 training frames" in capsys.readouterr().out
    found = load_subject(out)
    order = found.meta["split"]["train_frames"]["order"]
    assert sorted(order) == found.split()[0].tolist() and set(order) <= set(train.tolist())
    assert found.split()[1].tolist() == test.tolist()  # scored on the same frames as the source
    one = tmp_path / "one"
    assert main(["split", str(synthetic_subject), "-o", str(one), "--train-frames", "1"]) == 0
    assert load_subject(one).split()[0].tolist() == order[:1]  # the same start
    assert main(["split", str(synthetic_subject), "-o", str(tmp_path / "nine"), "--train-frames", "9"]) == 2
    assert "has 8 training frames; ask for 1 to 8" in capsys.readouterr().err
    assert not (tmp_path / "nine").exists()
