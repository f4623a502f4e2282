"""The training frames' corrections: which are learned, and at what rate."""

from headsplat.training.frames import FrameCorrections, FrameCorrectionsConfig


def _rates(config: FrameCorrectionsConfig) -> dict[str, float]:
    corrections = FrameCorrections(4, 3, config)
    learned = {name for name, p in corrections.named_parameters() if p.requires_grad}
    groups = {group.name: group.lr for group in corrections.param_groups()}
    assert set(groups) == learned
    return groups


def test_each_correction_takes_its_own_rate_or_the_shared_one():
    assert _rates(FrameCorrectionsConfig()) == {}
    assert not FrameCorrections(4, 3, FrameCorrectionsConfig()).learned
    shared = {"rotation": 5e-4, "translation": 5e-4, "expression": 5e-4}
    assert _rates(FrameCorrectionsConfig(lr=5e-4)) == shared
    assert _rates(FrameCorrectionsConfig(lr=5e-4, lr_rotation=1e-5)) == {**shared, "rotation": 1e-5}
    # GaussianAvatars' rates, nothing shared.
    own = FrameCorrectionsConfig(lr_rotation=1e-5, lr_translation=1e-4, lr_expression=1e-3)
    assert _rates(own) == {"rotation": 1e-5, "translation": 1e-4, "expression": 1e-3}
    assert _rates(FrameCorrectionsConfig(lr_expression=1e-3)) == {"expression": 1e-3}
