"""CPU training is bit-for-bit deterministic given a seed, so a run killed after a checkpoint and
resumed ends exactly where the uninterrupted run ends, on a real clip where the two once differed
(d18 at 64 px: 17,243 vs 17,239 Gaussians at step 500 before the binding's gathers were fixed)."""

import os
import subprocess
import sys
import time

import pytest
import torch

from headsplat.avatar import Avatar
from headsplat.io.checkpoint import load_parts
from headsplat.io.run import RunFolder
from tests.checkpoint_parts import flat_tensors
from tests.shared_data import D18, require_ict_model, require_shared
from tests.synthetic_subject import strategy_slot, tiny_config

STEPS, CHECKPOINT = 240, 120


@pytest.fixture(scope="module")
def d18_subject(tmp_path_factory, ict_model):
    """All 180 frames of d18, preprocessed at 128 px with a short tracking."""
    from headsplat.preprocess.pipeline import preprocess
    from tests.preprocess.helpers import fast_config

    folder = tmp_path_factory.mktemp("d18") / "subject"
    preprocess(
        require_shared(D18), folder, fast_config(size=128, overlay=False), model=ict_model, log=lambda _: None
    )
    return folder


SETTINGS = ["--size", "64", "--steps", str(STEPS), "--set", f"checkpoint_every={CHECKPOINT}"]
SETTINGS += ["--set", "strategy.sampling.start=40", "--set", "strategy.sampling.every=40"]
SETTINGS += ["--set", "geometry.steps=20"]
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


def test_a_killed_and_resumed_run_ends_bit_for_bit_where_the_uninterrupted_one_ends(d18_subject, tmp_path):
    straight, killed = RunFolder(tmp_path / "straight"), RunFolder(tmp_path / "killed")
    _finish(_train(d18_subject, straight.path, *SETTINGS))
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


def test_two_runs_with_one_seed_are_identical_and_another_seed_differs(synthetic_subject, ict_model):
    from headsplat.training.run import train

    strategy = strategy_slot("sampling", start=5, every=5, add=100)
    states = []
    for seed in (0, 0, 1):
        avatar, _, _ = train(
            synthetic_subject, tiny_config(32, 20, seed=seed, strategy=strategy), model=ict_model
        )
        states.append(avatar.state_dict())
    assert all(torch.equal(states[1][k], v) for k, v in states[0].items())
    assert not all(
        states[2][k].shape == v.shape and torch.equal(states[2][k], v) for k, v in states[0].items()
    )
