"""``headsplat bake --resume`` through the resumable job: a bake stopped after a checkpoint and
resumed ends exactly where the uninterrupted one ends (its checkpoint's every part and its avatar)."""

import torch

from headsplat.avatar import load_avatar
from headsplat.cli import main
from headsplat.io.checkpoint import load_parts
from headsplat.io.run import RunFolder
from tests.checkpoint_parts import flat_tensors

TINY = [
    "--set",
    "resolution=16",
    "--set",
    "fit_steps=4",
    "--set",
    "refine_steps=4",
    "--set",
    "checkpoint_every=3",
]


def test_a_bake_stopped_after_a_checkpoint_resumes_bit_for_bit(trained_run, tmp_path):
    run, _ = trained_run
    straight, stopped = RunFolder(tmp_path / "straight"), RunFolder(tmp_path / "stopped")
    for folder in (straight, stopped):
        assert main(["bake", str(run), "-o", str(folder.path), *TINY]) == 0
    # As if killed after step 6's checkpoint: the last checkpoint and the finished files gone.
    last = stopped.latest_checkpoint()
    assert last.name == "step_0000008.json"
    last.unlink()
    last.with_suffix(".safetensors").unlink()
    stopped.avatar_path.unlink()
    assert stopped.latest_checkpoint().name == "step_0000006.json"
    assert main(["bake", str(run), "-o", str(stopped.path), *TINY]) == 2  # --resume or --overwrite
    assert main(["bake", str(run), "-o", str(stopped.path), "--resume"]) == 0

    expected, got = load_parts(straight.latest_checkpoint()), load_parts(stopped.latest_checkpoint())
    assert set(expected) == {"bake", "bake_optimizer", "frames", "avatar"}
    assert expected["bake"][1]["step"] == got["bake"][1]["step"] == 8
    expected, got = flat_tensors(expected), flat_tensors(got)
    assert expected.keys() == got.keys()
    assert not [name for name, value in expected.items() if not torch.equal(got[name], value)]
    a, b = load_avatar(straight.path), load_avatar(stopped.path)
    assert all(torch.equal(b.state_dict()[k], v) for k, v in a.state_dict().items())
