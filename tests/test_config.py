"""The run config: round trip through JSON, --set overrides, registries, clear errors."""

import json
from pathlib import Path

import pytest

from headsplat.apps.options import add_setting, run_config_from_args, settings_given
from headsplat.avatar.deformers.torso import StillTorsoConfig
from headsplat.cli import build_parser
from headsplat.io.errors import InputError
from headsplat.io.settings import apply_setting, choose_mechanisms, to_dict
from headsplat.strategy import STRATEGIES, SamplingConfig, StrategyConfig, TemporalConfig, register_strategy
from headsplat.strategy.fixed import FixedStrategy
from headsplat.training.config import PRESETS, RunConfig, run_config_from_dict

DATA = Path(__file__).parent / "data"


def test_a_config_round_trips_through_json():
    config = RunConfig(steps=7)
    choose_mechanisms(config, "strategy", ["fixed"])
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
        "strategy=threshold",
        "strategy.threshold.grad_threshold=1e-3",
        "completion=none",
    ):
        apply_setting(config, assignment)
    assert config.steps == 12 and config.loss.ssim_weight == 0.3 and config.avatar.gaussians.lr_sh0 == 5e-3
    assert config.avatar.mesh_deformers["still_torso"].neck_top == -6.0
    assert list(config.strategy) == ["threshold"] and config.strategy["threshold"].grad_threshold == 1e-3
    assert config.completion == {}
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
        ("strategy=magic", "unknown strategy 'magic'; known: deformation, fixed, sampling, temporal, "),
        ("strategy=fixed,sampling", "strategy takes one name, got fixed, sampling"),
        ("strategy=", "strategy takes one name, got none"),
        ("completion=harmonic,harmonic", "completion takes one name or none"),
        # A field of the strategy without its name: the error names the chosen strategy's fields.
        (
            "strategy.error_threshold=0.2",
            r"strategy\.sampling\.FIELD; sampling has: prune_opacity, .*add, share_opacity \(known",
        ),
        ("strategy.temporal.error_threshold=0.2", "the strategy is sampling; choose temporal first"),
        ("strategy.sampling.error_threshold=0.2", "unknown setting 'strategy.sampling.error_threshold'"),
    ],
)
def test_bad_settings_say_what_is_known(assignment, message):
    with pytest.raises(InputError, match=message):
        apply_setting(RunConfig(), assignment)


def test_switching_the_strategy_keeps_the_fields_both_have():
    """The GPU preset's densification schedule survives ``--strategy``; a field the new strategy
    lacks goes, and one of the chosen strategy's own fields is set by its name."""
    options = ["--preset", "gpu", "--strategy", "temporal", "--set", "strategy.temporal.error_threshold=0.2"]
    config = run_config_from_args(build_parser().parse_args(["train", "s", "-o", "r", *options]))[0]
    gpu = {"start": 500, "every": 500, "add": 5000, "max_gaussians": 300_000}
    assert config.strategy == {"temporal": TemporalConfig(**gpu, error_threshold=0.2)}
    choose_mechanisms(config, "strategy", ["fixed"])
    assert config.strategy == {"fixed": StrategyConfig()}  # no densification schedule to keep


def test_a_saved_config_with_an_unknown_key_is_refused():
    values = to_dict(RunConfig())
    values["strategy"]["sampling"]["magic"] = 1
    with pytest.raises(InputError, match=r"unknown setting strategy\.sampling\.magic"):
        run_config_from_dict(values)
    known = "deformation, fixed, sampling, temporal, threshold"
    with pytest.raises(InputError, match=f"unknown strategy 'magic'; known: {known}"):
        run_config_from_dict({"strategy": {"magic": {}}})
    with pytest.raises(InputError, match="strategy takes one name, got none"):
        run_config_from_dict({"strategy": {}})
    values = to_dict(RunConfig())
    values["completion"]["harmonic"]["hair_fill"] = "magic"
    with pytest.raises(
        InputError, match=r"completion\.harmonic\.hair_fill 'magic'; known: seen_mean, harmonic"
    ):
        run_config_from_dict(values)


def test_a_config_recorded_before_strategies_were_registered_is_upgraded():
    """``config.json`` as the code before registered strategies wrote it (a temporal run with
    threshold's field set too, no completion): the chosen strategy keeps its own fields."""
    recorded = json.loads((DATA / "config_flat_strategy.json").read_text())["config"]
    assert recorded["strategy"]["name"] == "temporal" and recorded["completion"]["name"] == "none"
    config = run_config_from_dict(recorded)
    assert config.strategy == {"temporal": TemporalConfig(every=50, error_threshold=0.2)}
    assert config.completion == {}
    slots = {"strategy": None, "completion": None}
    assert to_dict(config) | slots == to_dict(RunConfig(steps=40)) | slots  # the rest as recorded


def test_a_name_registered_twice_is_an_error():
    with pytest.raises(ValueError, match="a strategy named 'fixed' is already registered"):
        register_strategy("fixed")(FixedStrategy)
    assert STRATEGIES["fixed"] is FixedStrategy
    assert PRESETS["cpu"].strategy == {"sampling": SamplingConfig()}


def test_the_cli_offers_what_the_registries_hold():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    choices = {action.dest: action.choices for action in train._actions}
    assert sorted(choices["strategy"]) == sorted(STRATEGIES)
    args = parser.parse_args(["train", "s", "-o", "r", "--preset", "gpu", "--strategy", "fixed"])
    assert (args.preset, args.strategy, args.set) == ("gpu", "fixed", [])


def test_every_run_option_counts_as_a_setting_and_a_new_one_does_too(tmp_path):
    """Which options are settings (refused with ``--resume``) is read from their declaration:
    each option of train's but the run's own (subject, output, steps, resume, overwrite) is one,
    and an option added with ``add_setting`` is one without being listed anywhere."""
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    own = {"help", "subject", "output", "steps", "resume", "overwrite"}
    declared = {action.dest for action in train._actions} - own
    assert set(train.get_default("setting_options")) == declared
    for option in (
        "--preset=gpu",
        "--size=64",
        "--seed=3",
        "--moving-torso",
        "--set=steps=3",
        "--deformer=soft_binding",
    ):
        assert settings_given(parser.parse_args(["train", "s", "-o", "r", option])), option
    assert not settings_given(parser.parse_args(["train", "s", "-o", "r", "--steps", "9", "--resume"]))
    add_setting(train, "--magic", type=int)
    args = parser.parse_args(["train", "s", "-o", "r", "--magic", "3", "--resume"])
    assert settings_given(args)
    from headsplat.training.run import train_run

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    with pytest.raises(InputError, match="--resume continues the run with its own settings"):
        train_run(tmp_path / "subject", run, RunConfig(), resume=True, settings_given=settings_given(args))


def _leaves(values: dict, prefix: str = "") -> dict:
    """``values`` (nested) as {"section.field": value}."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_fewshot_preset_sets_exactly_what_it_documents():
    cpu, fewshot = _leaves(to_dict(PRESETS["cpu"])), _leaves(to_dict(PRESETS["fewshot"]))
    changed = {key: fewshot[key] for key in cpu.keys() | fewshot.keys() if cpu.get(key) != fewshot.get(key)}
    assert changed == {
        "avatar.mesh_deformers.personal_blendshapes.learn_expressions": False,
        "mirrored.share": 0.25,
        "uv_colour_prior.weight": 1.0,
        "completion.harmonic.mirror": True,
    }
    documented = (
        (Path(__file__).parents[1] / "docs" / "train.md").read_text().split("`--preset fewshot`", 1)[1][:1500]
    )
    for key in changed:
        assert key.removeprefix("avatar.mesh_deformers.") in documented, key
    assert PRESETS["cpu"].avatar.mesh_deformers["personal_blendshapes"].learn_expressions  # not shared


def test_a_few_training_frames_choose_the_fewshot_preset_unless_one_is_named():
    from headsplat.apps.options import preset_name
    from headsplat.training.config import FEWSHOT_FRAMES

    parser = build_parser()
    plain = parser.parse_args(["train", "s", "-o", "r"])
    named = parser.parse_args(["train", "s", "-o", "r", "--preset", "cpu"])
    assert preset_name(plain, FEWSHOT_FRAMES) == "fewshot" and preset_name(plain, FEWSHOT_FRAMES + 1) == "cpu"
    assert preset_name(plain) == "cpu" and preset_name(named, 1) == "cpu"
    config, _ = run_config_from_args(plain, 3)
    assert config.mirrored.share == 0.25
