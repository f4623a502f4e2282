"""The one resumable-job helper: a checkpoint of named parts in one namespace, the stale avatar
removed when a job begins, the newest two checkpoints kept, an older layout refused with the fix."""

import json

import pytest
import torch

from headsplat.io.checkpoint import load_parts, read_part, save_checkpoint
from headsplat.io.errors import InputError
from headsplat.io.job import ResumableJob


def _parts(step: int) -> dict:
    return {
        "avatar": ({"gaussians.sh0": torch.full((3, 3), float(step))}, {"format": "avatar"}),
        "frames": ({"rotation": torch.zeros(2, 3)}, {}),
        "optimizer": ({"avatar.sh0/exp_avg": torch.ones(3, 3)}, {}),
        "trainer": ({}, {"step": step, "seconds": 1.5}),
    }


def test_a_job_checkpoints_its_parts_in_one_namespace_and_reads_them_back(tmp_path):
    job = ResumableJob(tmp_path / "run")
    assert not job.continuing and job.recorded_config() is None and job.latest_parts() is None
    job.folder.avatar_path.parent.mkdir(parents=True)
    job.folder.avatar_path.write_bytes(b"stale")
    job.begin(tmp_path / "subject", "abc", {"steps": 3})
    assert not job.folder.avatar_path.exists()  # stale until the job completes again
    for step in (1, 2, 3):
        job.checkpoint(step, _parts(step))
    stored = sorted(p.name for p in job.folder.checkpoints.iterdir())
    assert stored == [f"step_000000{s}.{ext}" for s in (2, 3) for ext in ("json", "safetensors")]

    resumed = ResumableJob(tmp_path / "run", resume=True)
    assert resumed.continuing and resumed.recorded_config()["config"] == {"steps": 3}
    parts = resumed.latest_parts()
    assert parts.keys() == _parts(3).keys()
    assert torch.equal(parts["avatar"][0]["gaussians.sh0"], torch.full((3, 3), 3.0))
    assert parts["trainer"][1] == {"step": 3, "seconds": 1.5} and parts["frames"][1] == {}
    assert list(parts["optimizer"][0]) == ["avatar.sh0/exp_avg"]  # a key's own dots and slashes kept
    latest = resumed.folder.latest_checkpoint()
    assert list(read_part(latest, "frames")) == ["rotation"]
    assert json.loads(latest.read_text())["step"] == 3


def test_a_checkpoint_of_the_older_layout_is_refused_for_resuming_and_still_read_by_part(tmp_path):
    """Before the parts, training wrote its counters at the JSON's top and its optimizer under
    ``optimizer/``: the avatar and frames names were the same, so eval still reads them."""
    folder = tmp_path / "checkpoints"
    tensors = {"avatar.gaussians.sh0": torch.ones(2, 3), "frames.rotation": torch.zeros(2, 3)}
    tensors["optimizer/avatar.sh0/exp_avg"] = torch.ones(2, 3)
    old = save_checkpoint(folder, "step_0000010", tensors, {"step": 10, "avatar": {}, "seconds": 2.0})
    with pytest.raises(
        InputError, match=r"step_0000010\.json: a checkpoint of an older headsplat.*--overwrite"
    ):
        load_parts(old)
    assert torch.equal(read_part(old, "frames")["rotation"], torch.zeros(2, 3))
