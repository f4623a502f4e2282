"""The training-only per-frame code: the identity without a code, learned per training frame from
the CLI, centred, and never handed to the avatar by evaluation but where it re-renders the
training frames at the conditions they trained at."""

import numpy as np
import torch

from headsplat.avatar import load_avatar
from headsplat.avatar.deformers.base import BuildContext
from headsplat.avatar.deformers.frame_code import CODE, FrameCode, FrameCodeConfig
from headsplat.avatar.linear import linearise
from headsplat.evaluation.evaluate import evaluate_run
from headsplat.io.checkpoint import read_part
from headsplat.io.run import RunFolder
from headsplat.io.subject import load_subject
from tests.avatar.helpers import train_with_deformer


def test_without_a_code_the_avatar_renders_as_without_the_deformer(trained_run):
    avatar = load_avatar(trained_run[0])
    condition = avatar.condition(avatar.neutral_expression)
    before = avatar.posed_gaussians(condition)
    config = FrameCodeConfig(size=4)
    avatar.gaussian_deformers["frame_code"] = FrameCode(
        config, BuildContext(avatar.head, len(avatar.gaussians))
    )
    for a, b in zip(avatar.posed_gaussians(condition), before, strict=True):
        assert torch.equal(a, b)
    coded = condition.__class__(
        **{**condition.__dict__, "extras": {CODE: torch.tensor([0.5, -0.5, 0.3, 0.0])}}
    )
    assert (avatar.posed_gaussians(coded).means - before.means).norm(dim=-1).max() > 1e-3
    linearise(avatar)  # held-out, exported or played, the avatar has no code: nothing to refuse


def test_codes_are_learned_per_training_frame_and_evaluation_hands_none_to_the_test_frames(
    synthetic_subject, ict_model, tmp_path, monkeypatch
):
    monkeypatch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
    run = tmp_path / "run"
    assert (
        train_with_deformer(
            synthetic_subject, run, "frame_code", 4, "avatar.gaussian_deformers.frame_code.size=4"
        )
        == 0
    )
    codes = read_part(RunFolder(run).latest_checkpoint(), "frames")["code"]
    train_frames, test_frames = load_subject(synthetic_subject).split()
    assert codes.shape == (load_subject(synthetic_subject).n_frames, 4)
    assert codes[train_frames].abs().max() > 0 and codes[test_frames].abs().max() == 0
    torch.testing.assert_close(codes[train_frames].mean(0), torch.zeros(4), atol=1e-6, rtol=0)

    seen = []
    offsets = FrameCode.offsets
    monkeypatch.setattr(
        FrameCode, "offsets", lambda self, code, ctx: seen.append(code) or offsets(self, code, ctx)
    )
    metrics = evaluate_run(run, video=False)
    # Only the training-frame score at the conditions it trained at gets codes, one per scored frame.
    scored = np.asarray(train_frames)[::10]
    assert len(seen) == len(scored) and all(
        torch.equal(c, codes[f]) for c, f in zip(seen, scored, strict=True)
    )
    assert metrics["train_psnr_aligned"] != metrics["train_psnr"]
