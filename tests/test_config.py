"""The run config: round trip through JSON, --set overrides, registries, clear errors."""

import pytest

from headsplat.avatar.deformers.torso import StillTorsoConfig
from headsplat.cli import build_parser
from headsplat.config import PRESETS, RunConfig, run_config_from_dict
from headsplat.io.errors import InputError
from headsplat.io.settings import apply_setting, to_dict
from headsplat.strategy import STRATEGIES


def test_a_config_round_trips_through_json():
    config = RunConfig(steps=7)
    config.strategy.name = "fixed"
    config.avatar.mesh_deformers["still_torso"].neck_top = -7.0
    assert run_config_from_dict(to_dict(config)) == config
    assert run_config_from_dict(to_dict(PRESETS["gpu"])) == PRESETS["gpu"]
    assert run_config_from_dict({}) == RunConfig()  # every field has its default


def test_set_reaches_every_field_and_chooses_mechanisms():
    config = RunConfig()
    for assignment in (
        "steps=12",
        "loss.ssim_weight=0.3",
        "avatar.gaussians.lr_sh0=5e-3",
        "avatar.mesh_deformers.still_torso.neck_top=-6",
        "strategy.name=threshold",
        "completion.name=none",
    ):
        apply_setting(config, assignment)
    assert config.steps == 12 and config.loss.ssim_weight == 0.3 and config.avatar.gaussians.lr_sh0 == 5e-3
    assert config.avatar.mesh_deformers["still_torso"].neck_top == -6.0
    assert config.strategy.name == "threshold" and config.completion.name == "none"
    apply_setting(config, "avatar.mesh_deformers=personal_blendshapes")
    assert list(config.avatar.mesh_deformers) == ["personal_blendshapes"]
    apply_setting(config, "avatar.mesh_deformers.still_torso.neck_bottom=-20")  # enables it again
    assert config.avatar.mesh_deformers["still_torso"] == StillTorsoConfig(neck_bottom=-20.0)
    assert PRESETS["cpu"] == RunConfig()  # the presets were not touched


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("loss.ssim=0.3", "unknown setting 'loss.ssim'"),
        (
            "avatar.mesh_deformers.magic.x=1",
            "unknown avatar.mesh_deformers 'magic'; known: personal_blendshapes",
        ),
        ("steps=many", "'many' is not a int"),
        ("loss=3", "loss is a section"),
        ("steps", "SECTION.FIELD=VALUE"),
        ("avatar.mesh_deformers.still_torso=1", "give a field of still_torso"),
    ],
)
def test_bad_settings_say_what_is_known(assignment, message):
    with pytest.raises(InputError, match=message):
        apply_setting(RunConfig(), assignment)


def test_a_saved_config_with_an_unknown_key_is_refused():
    values = to_dict(RunConfig())
    values["strategy"]["magic"] = 1
    with pytest.raises(InputError, match=r"unknown setting strategy\.magic"):
        run_config_from_dict(values)
    values = to_dict(RunConfig())
    values["strategy"]["name"] = "magic"
    known = "fixed, sampling, temporal, threshold"
    with pytest.raises(InputError, match=f"unknown strategy 'magic'; known: {known}"):
        run_config_from_dict(values)
    values = to_dict(RunConfig())
    values["completion"]["hair_fill"] = "magic"
    with pytest.raises(InputError, match=r"completion\.hair_fill 'magic'; known: seen_mean, harmonic"):
        run_config_from_dict(values)


def test_the_cli_offers_what_the_registries_hold():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    choices = {action.dest: action.choices for action in train._actions}
    assert sorted(choices["strategy"]) == sorted(STRATEGIES)
    args = parser.parse_args(["train", "s", "-o", "r", "--preset", "gpu", "--strategy", "fixed"])
    assert (args.preset, args.strategy, args.set) == ("gpu", "fixed", [])
