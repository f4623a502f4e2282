"""FATE's neural baking: the network, the attribute codec, rendering through baked columns, and the
two-stage bake resuming exactly."""

import cv2
import numpy as np
import pytest
import torch

from headsplat.apps.bake import surface_texels
from headsplat.avatar import load_avatar
from headsplat.baking.attributes import SPREAD, AttributeCodec, store_values, values_to_columns
from headsplat.baking.bake import BakeConfig, Baker
from headsplat.baking.bakenet import BakeNet, fixed_noise
from headsplat.baking.surface_regions import REGIONS
from headsplat.geometry import quaternion_to_matrix
from headsplat.io.subject import load_subject
from headsplat.training.data import load_frame_data
from tests.avatar.helpers import strip_avatar
from tests.checkpoint_parts import copied, flat_tensors


def test_bakenet_starts_at_zero_and_keeps_the_maps_size():
    net = BakeNet(11, channels=(8, 16, 32), noise_channels=4)
    noise = fixed_noise(3, 4, 32, seed=0)
    assert torch.equal(noise, fixed_noise(3, 4, 32, seed=0)) and net.multiple == 4
    out = net(noise)
    assert out.shape == (3, 11, 32, 32) and torch.equal(out, torch.zeros_like(out))


def test_the_codec_turns_columns_into_values_and_back():
    avatar = strip_avatar(20)
    store = avatar.gaussians
    with torch.no_grad():
        store.sh0.copy_(torch.randn(20, 3) * 0.5)
        store.rotation.copy_(torch.randn(20, 4))
        store.offset.copy_(torch.randn(20, 1))
    values = store_values(store, ("colour", "opacity", "scale", "rotation", "offset"))
    assert values.shape == (20, 11)
    columns = values_to_columns(values, ("colour", "opacity", "scale", "rotation", "offset"))
    rgb = (0.5 + 0.28209479177387814 * store.sh0).clamp(0, 1)
    torch.testing.assert_close(0.5 + 0.28209479177387814 * columns["sh0"], rgb)
    for name in ("opacity", "log_scale", "offset"):
        torch.testing.assert_close(columns[name], getattr(store, name))
    # A quaternion and its negative are one rotation: compare the matrices.
    torch.testing.assert_close(
        quaternion_to_matrix(columns["rotation"]), quaternion_to_matrix(store.rotation)
    )
    codec = AttributeCodec.fit(store, "appearance")
    assert codec.groups == ("colour", "opacity") and codec.channels == 4
    decoded = codec.decode(torch.zeros(5, 4))
    torch.testing.assert_close(decoded[:, :3], torch.full((5, 3), 0.5))  # sigmoid(0)
    torch.testing.assert_close(decoded[:, 3], codec.mean[3].expand(5))
    far = codec.decode(torch.full((1, 4), 1e6))  # bounded: within SPREAD deviations of the mean
    assert far[0, 3] == pytest.approx(float(codec.mean[3] + SPREAD * codec.std[3]), rel=1e-5)


def test_a_render_can_read_columns_from_tensors_and_the_parameters_come_back():
    avatar = strip_avatar(10, log_scale=-0.5)
    store = avatar.gaussians
    order = [name for name, _ in store.named_parameters()]
    colours = torch.zeros(10, 3, requires_grad=True)
    with store.columns_from({"sh0": colours, "opacity": store.opacity.detach() + 1}):
        image = avatar.render(avatar.condition()).image
    image.sum().backward()
    assert colours.grad.abs().sum() > 0
    assert [name for name, _ in store.named_parameters()] == order
    assert isinstance(store.sh0, torch.nn.Parameter) and store.sh0.grad is None
    with pytest.raises(KeyError, match="triangle"), store.columns_from({"triangle": store.triangle}):
        pass


def _baker(trained_run, config):
    run, subject_folder = trained_run
    avatar = load_avatar(run)
    data = load_frame_data(load_subject(subject_folder), avatar.size)
    return Baker(avatar, data, config)


def test_baking_fits_the_attributes_then_renders_and_resumes_exactly(trained_run):
    config = BakeConfig(resolution=16, channels=(8, 16), fit_steps=6, refine_steps=4, lr=1e-2)
    config.regularisation, config.checkpoint_every = 0.5, 5
    straight = _baker(trained_run, config)
    assert straight.tiles and all(0 <= t < straight.n_materials for t in straight.tiles)
    first = straight.fit_loss(straight.values()).item()
    saved = []

    losses = []
    straight.fit(
        progress=lambda step, parts, seconds: losses.append(parts),
        checkpoint=lambda: saved.append(copied(straight.state())),
    )
    assert losses[5]["fit"] < first  # stage 1 regresses the trained attributes
    assert "l1" not in losses[5] and "l1" in losses[6] and "mask" in losses[6]  # stage 2 renders
    assert [parts["bake"][1]["step"] for parts in saved] == [5, 10]
    maps = straight.maps()
    assert maps.shape == (11, 16, 16 * straight.n_materials) and torch.isfinite(maps).all()
    resumed = _baker(trained_run, config)
    resumed.restore(saved[0])
    resumed.fit()
    expected, got = flat_tensors(straight.state()), flat_tensors(resumed.state())
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        assert torch.equal(got[name], value), name
    columns = straight.baked_columns()
    assert set(columns) == {"sh0", "opacity", "log_scale", "rotation", "offset"}
    assert all(len(v) == len(straight.avatar.gaussians) for v in columns.values())
    assert np.isfinite(straight.seconds)


def test_bake_writes_a_run_that_evaluates_and_exports_its_maps(trained_run, tmp_path, capsys):
    from headsplat.cli import main

    run, _ = trained_run
    baked = tmp_path / "baked"
    tiny = ["--set", "resolution=16", "--set", "fit_steps=4", "--set", "refine_steps=3"]
    assert main(["export", str(run), "--maps", str(tmp_path / "nope")]) == 2  # never baked
    assert "Bake it first" in capsys.readouterr().err
    assert main(["edit", str(run), "--recolour", "hair", "--hue", "10", "-o", str(tmp_path / "nope")]) == 2
    assert "Bake it first" in capsys.readouterr().err and not (tmp_path / "nope").exists()
    assert main(["bake", str(run), "-o", str(baked), *tiny]) == 0
    avatar = load_avatar(baked)
    assert avatar.info["baking"]["mode"] == "all" and avatar.info["baking"]["steps"] == 7
    assert len(avatar.gaussians) == len(load_avatar(run).gaussians)
    assert main(["eval", str(baked), "--refine-steps", "0", "--no-video"]) == 0
    assert main(["export", str(baked), "--maps", str(tmp_path / "maps")]) == 0
    names = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert names == [
        "attributes.npz",
        "colour.png",
        "offset.png",
        "opacity.png",
        "preview.png",
        "regions.png",
        "rotation.png",
        "scale.png",
    ]
    assert main(["bake", str(run), "-o", str(baked), *tiny]) == 2  # exists: --resume or --overwrite
    assert main(["bake", str(baked), "-o", str(tmp_path / "again"), "--mode", "appearance", *tiny]) == 0
    assert load_avatar(tmp_path / "again").info["baking"]["mode"] == "appearance"


def test_maps_round_trip_exactly_and_an_edited_png_changes_only_its_texels(trained_run, tmp_path):
    from headsplat.cli import main

    run, subject = trained_run
    baked, maps = tmp_path / "baked", tmp_path / "maps"
    tiny = ["--set", "resolution=16", "--set", "fit_steps=3", "--set", "refine_steps=2"]
    assert main(["bake", str(run), "-o", str(baked), *tiny]) == 0
    assert main(["export", str(baked), "--maps", str(maps)]) == 0
    original = load_avatar(baked)
    assert main(["edit", str(baked), "--maps", str(maps), "-o", str(tmp_path / "same")]) == 0
    (maps / "attributes.npz").unlink()  # the 8-bit PNGs alone
    assert main(["edit", str(baked), "--maps", str(maps), "-o", str(tmp_path / "png")]) == 0
    for name in ("same", "png"):
        copy_ = load_avatar(tmp_path / name)
        for column, value in original.gaussians.columns().items():
            assert torch.equal(getattr(copy_.gaussians, column), value), (name, column)
        assert not any(copy_.info["baking"]["changed_texels"].values())
    colour = cv2.imread(str(maps / "colour.png"))
    colour[2:10, 2:10] = (0, 0, 255)  # a red square in the first tile (BGR)
    cv2.imwrite(str(maps / "colour.png"), colour)
    assert main(["edit", str(baked), "--maps", str(maps), "-o", str(tmp_path / "red")]) == 0
    red = load_avatar(tmp_path / "red")
    assert red.info["baking"]["changed_texels"]["colour"] > 0
    assert red.info["baking"]["changed_texels"]["scale"] == 0
    moved = (red.gaussians.sh0 != original.gaussians.sh0).any(-1)
    assert 0 < int(moved.sum()) < len(moved)  # the Gaussians that read those texels
    assert torch.equal(red.gaussians.log_scale, original.gaussians.log_scale)
    assert main(["edit", str(baked), "--maps", str(maps), "-o", str(tmp_path / "red")]) == 2  # exists
    sticker = np.zeros((8, 8, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "sticker.png"), sticker)
    edit = ["edit", str(baked), "--sticker", str(tmp_path / "sticker.png"), "--sticker-size", "128"]
    assert main([*edit, "-o", str(tmp_path / "no_at")]) == 2  # where?
    assert main(["edit", str(baked), "-o", str(tmp_path / "nothing")]) == 2  # what?
    assert not (tmp_path / "no_at").exists() and not (tmp_path / "nothing").exists()
    assert main([*edit, "--at", "256,256", "-o", str(tmp_path / "stuck")]) == 0
    stuck = load_avatar(tmp_path / "stuck")
    assert stuck.info["baking"]["changed_texels"]["sticker"] == 16  # 4 x 4 texels at 16 per tile
    assert (stuck.gaussians.sh0 != original.gaussians.sh0).any()
    recolour = ["edit", str(baked), "--recolour", "hair", "--hue", "120", "--value", "0.5"]
    assert main([*recolour, "-o", str(tmp_path / "green")]) == 0
    green = load_avatar(tmp_path / "green")
    hair = green.info["baking"]["changed_texels"]["recolour_hair"]
    colour = np.load(baked / "maps" / "attributes.npz")["maps"][:3]
    regions = surface_texels(original.head, colour)
    assert 0 < hair <= int((regions == REGIONS.index("hair")).sum())
    assert torch.equal(green.gaussians.opacity, original.gaussians.opacity)
    assert main([*recolour, "--saturation", "-1", "-o", str(tmp_path / "bad")]) == 2
    # An edited run is a run: it renders, reenacts and exports.
    edited = str(tmp_path / "green")
    assert main(["render", edited, "--orbit", "--frames", "2", "-o", str(tmp_path / "orbit.mp4")]) == 0
    assert main(["reenact", edited, str(subject), "-o", str(tmp_path / "reenact.mp4")]) == 0
    assert main(["export", edited, "--ply", str(tmp_path / "green.ply")]) == 0
    assert all((tmp_path / name).stat().st_size > 0 for name in ("orbit.mp4", "reenact.mp4", "green.ply"))


def test_a_sticker_lands_where_the_preview_says_and_stays_in_its_tile():
    from headsplat.baking.edits import paste_sticker

    colour = np.full((3, 32, 3 * 32), 0.5, np.float32)
    red = np.zeros((10, 20, 3), np.uint8)
    red[..., 0] = 255
    opaque = np.ones((10, 20), np.float32)
    # Centre (256, 256) of the preview = texel (16, 16) of tile 0; 256 px wide = 16 texels, 8 high.
    out = paste_sticker(colour, red, opaque, at=(256, 256), size=256)
    changed = (out != colour).any(0)
    ys, xs = np.nonzero(changed)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (8, 23, 12, 19)
    assert np.allclose(out[:, 12:20, 8:24], np.array([1.0, 0.0, 0.0])[:, None, None])
    # Near tile 1's right edge: clipped there, tile 2 untouched.
    edge = paste_sticker(colour, red, opaque, at=(1000, 256), size=256)
    ys, xs = np.nonzero((edge != colour).any(0))
    assert xs.max() == 63 and xs.min() == 54  # centre 62.5 texels, 16 wide
    # Half transparent: half way.
    half = paste_sticker(colour, red, opaque * 0.5, at=(256, 256), size=256)
    assert np.allclose(half[:, 15, 15], [0.75, 0.25, 0.25])
    with pytest.raises(ValueError, match="outside"):
        paste_sticker(colour, red, opaque, at=(256, -400), size=64)
