"""Long jobs resume through :class:`headsplat.io.job.ResumableJob` bit for bit, on a real clip.

CPU training is deterministic given a seed, so a run killed after a checkpoint and resumed ends
exactly where the uninterrupted run ends (d18, where the two once differed: 17,243 vs 17,239
Gaussians at step 500 before the binding's gathers were fixed); a bake of that run stopped after a
checkpoint and resumed ends where the uninterrupted bake ends."""

import os
import subprocess
import sys
import time
from itertools import islice

import pytest
import torch

from headsplat.avatar import Avatar, load_avatar
from headsplat.cli import main
from headsplat.io.checkpoint import load_parts
from headsplat.io.run import RunFolder
from headsplat.io.video import iter_mp4, write_mp4
from tests.checkpoint_parts import flat_tensors
from tests.shared_data import D18, require_ict_model, require_shared

STEPS, CHECKPOINT = 240, 120


@pytest.fixture(scope="module")
def d18_subject(tmp_path_factory, ict_model):
    """The first 60 frames of d18 (a third: the pose alignment fits every training frame, twice
    per run here), preprocessed at 128 px with a short tracking."""
    from headsplat.preprocess.pipeline import preprocess
    from tests.preprocess.helpers import fast_config

    folder = tmp_path_factory.mktemp("d18")
    clip = folder / "d18.mp4"
    write_mp4(clip, islice(iter_mp4(require_shared(D18)), 60), 25.0)
    preprocess(
        clip, folder / "subject", fast_config(size=128, overlay=False), model=ict_model, log=lambda _: None
    )
    return folder / "subject"


SETTINGS = ["--size", "64", "--steps", str(STEPS), "--set", f"checkpoint_every={CHECKPOINT}"]
# EAvatar's mechanisms: the deformation strategy (FATE's sampling and its own statistic) and
# sparse control, whose controls the clip sizes: a resumed run must rebuild them from the checkpoint.
SETTINGS += ["--strategy", "deformation", "--deformer", "sparse_control"]
SETTINGS += ["--set", "strategy.deformation.start=40", "--set", "strategy.deformation.every=40"]
SETTINGS += ["--set", "geometry.steps=20"]
# The UV colour prior measures its footprints on the avatar as it was made: a resumed run keeps them.
SETTINGS += ["--set", "uv_colour_prior.weight=1"]
# The pose alignment runs after step 120, where the run is killed: the resumed run must run it.
SETTINGS += ["--set", "frames.align_at=0.5", "--set", "frames.align_steps=2"]


def _train(subject, run, *options) -> subprocess.Popen:
    """``headsplat train`` in a child process, as a user runs it."""
    env = {**os.environ, "HEADSPLAT_ICT_MODEL": str(require_ict_model())}
    command = [sys.executable, "-m", "headsplat.cli", "train", str(subject), "-o", str(run), *options]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> None:
    _, errors = process.communicate(timeout=600)
    assert process.returncode == 0, errors[-2000:]


@pytest.fixture(scope="module")
def d18_run(d18_subject, tmp_path_factory) -> RunFolder:
    """The uninterrupted training run of d18 with :data:`SETTINGS`."""
    run = RunFolder(tmp_path_factory.mktemp("d18") / "straight")
    _finish(_train(d18_subject, run.path, *SETTINGS))
    return run


def test_a_killed_and_resumed_run_ends_bit_for_bit_where_the_uninterrupted_one_ends(
    d18_subject, d18_run, tmp_path
):
    straight, killed = d18_run, RunFolder(tmp_path / "killed")
    process = _train(d18_subject, killed.path, *SETTINGS)
    checkpoint = killed.checkpoints / f"step_{CHECKPOINT:07d}.json"
    while not checkpoint.is_file() and process.poll() is None:
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert killed.latest_checkpoint() == checkpoint, "the run was not killed between its checkpoints"
    _finish(_train(d18_subject, killed.path, "--resume"))

    expected_parts, got_parts = (
        load_parts(straight.latest_checkpoint()),
        load_parts(killed.latest_checkpoint()),
    )
    meta, resumed = expected_parts["trainer"][1], got_parts["trainer"][1]
    assert meta["step"] == resumed["step"] == STEPS and meta["gaussians"] > 5000
    expected, got = flat_tensors(expected_parts), flat_tensors(got_parts)
    assert expected.keys() == got.keys()
    different = [name for name, value in expected.items() if not torch.equal(got[name], value)]
    assert not different, different
    # The avatar files too (their metadata differ in the training seconds only).
    a, b = Avatar.load(straight.avatar_path), Avatar.load(killed.avatar_path)
    assert all(torch.equal(b.state_dict()[k], v) for k, v in a.state_dict().items())
    assert a.info["training"]["steps"] == b.info["training"]["steps"] == STEPS


BAKE_SETTINGS = ["--set", "resolution=16", "--set", "fit_steps=4", "--set", "refine_steps=4"]
BAKE_SETTINGS += ["--set", "checkpoint_every=3"]


def test_a_bake_stopped_after_a_checkpoint_resumes_bit_for_bit(d18_run, tmp_path):
    straight, stopped = RunFolder(tmp_path / "straight"), RunFolder(tmp_path / "stopped")
    for folder in (straight, stopped):
        assert main(["bake", str(d18_run.path), "-o", str(folder.path), *BAKE_SETTINGS]) == 0
    # As if killed after step 6's checkpoint: the last checkpoint and the finished files gone.
    last = stopped.latest_checkpoint()
    assert last.name == "step_0000008.json"
    last.unlink()
    last.with_suffix(".safetensors").unlink()
    stopped.avatar_path.unlink()
    assert stopped.latest_checkpoint().name == "step_0000006.json"
    assert main(["bake", str(d18_run.path), "-o", str(stopped.path), *BAKE_SETTINGS]) == 2  # --resume?
    assert main(["bake", str(d18_run.path), "-o", str(stopped.path), "--resume"]) == 0

    expected, got = load_parts(straight.latest_checkpoint()), load_parts(stopped.latest_checkpoint())
    assert set(expected) == {"bake", "bake_optimizer", "frames", "avatar"}
    assert expected["bake"][1]["step"] == got["bake"][1]["step"] == 8
    expected, got = flat_tensors(expected), flat_tensors(got)
    assert expected.keys() == got.keys()
    assert not [name for name, value in expected.items() if not torch.equal(got[name], value)]
    a, b = load_avatar(straight.path), load_avatar(stopped.path)
    assert all(torch.equal(b.state_dict()[k], v) for k, v in a.state_dict().items())
