"""`headsplat export --blendshapes / --web / --sequence`: the files, their layout, their errors."""

import json

import numpy as np
import pytest
import torch
from plyfile import PlyData

from headsplat.apps.export.blendshapes import ALIGN, ARRAYS, HEADER, PAYLOAD, read_blendshapes, regions
from headsplat.apps.export.web import PAGE, SEQUENCE, serve
from headsplat.avatar import load_avatar
from headsplat.avatar.linear import linearise
from headsplat.cli import main
from headsplat.drive.motion import Motion, load_motion
from headsplat.geometry import axis_angle_to_matrix
from headsplat.io.errors import InputError


@pytest.fixture(scope="module")
def motion_file(trained_run, tmp_path_factory):
    """A 3-frame motion in the avatar's terms: the jaw opening while the head turns."""
    avatar = load_avatar(trained_run[0])
    names = avatar.expression_names
    expression = avatar.neutral_expression.repeat(3, 1)
    expression[:, names.index("jawOpen")] = torch.tensor([0.0, 0.5, 1.0])
    turns = axis_angle_to_matrix(torch.tensor([[0.0, a, 0.0] for a in (0.0, 0.2, 0.4)]))
    motion = Motion(
        expression, list(names), torch.zeros(3, 2, 2), avatar.rest_rotation @ turns,
        avatar.rest_translation.repeat(3, 1), 25.0,
    )  # fmt: skip
    return motion.save(tmp_path_factory.mktemp("motion") / "turn.motion.npz")


def test_blendshapes_export_is_the_documented_layout(trained_run, tmp_path):
    run, _ = trained_run
    folder = tmp_path / "bs"
    assert main(["export", str(run), "--blendshapes", str(folder)]) == 0
    header = json.loads((folder / HEADER).read_text())
    payload = (folder / PAYLOAD).read_bytes()
    assert header["units"] == "cm" and "+y up" in header["axes"]
    assert set(header["arrays"]) == set(ARRAYS)
    n, u, names = header["count"], header["vertices"], header["expression_names"]
    assert len(names) == 53 and sum(len(v) for v in header["regions"].values()) == 53
    for name, spec in header["arrays"].items():
        assert spec["offset"] % ALIGN == 0 and spec["offset"] + spec["bytes"] <= len(payload)
        assert spec["dtype"] == ARRAYS[name]
    assert header["arrays"]["triangles"]["shape"] == [n, 3]
    assert header["arrays"]["vertex_deltas"]["shape"] == [len(names), u, 3]
    # The bytes are the linearised avatar's, read with nothing but numpy and the header.
    expected = linearise(load_avatar(run))
    spec = header["arrays"]["vertex_deltas"]
    raw = np.frombuffer(payload, "<f2", count=len(names) * u * 3, offset=spec["offset"])
    np.testing.assert_array_equal(raw.reshape(len(names), u, 3), expected.vertex_deltas)
    read = read_blendshapes(folder)
    np.testing.assert_array_equal(read.vertices, expected.vertices)
    np.testing.assert_array_equal(read.triangles, expected.triangles)
    assert not any(p.name.startswith(".") for p in tmp_path.rglob("*"))


def test_a_truncated_export_is_refused_with_the_fix(trained_run, tmp_path):
    folder = tmp_path / "bs"
    assert main(["export", str(trained_run[0]), "--blendshapes", str(folder)]) == 0
    payload = folder / PAYLOAD
    payload.write_bytes(payload.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"truncated.*export it again"):
        read_blendshapes(folder)


@pytest.mark.parametrize("kind", ["--web", "--blendshapes"])
def test_export_refuses_to_replace_a_foreign_folder(trained_run, tmp_path, capsys, kind):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"jpeg")
    assert main(["export", str(trained_run[0]), kind, str(folder)]) == 2
    assert "refusing to replace it" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.jpg"]
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]  # no partial folder left


def test_web_export_holds_the_page_the_export_and_the_sequence(trained_run, motion_file, tmp_path):
    folder = tmp_path / "web"
    assert main(["export", str(trained_run[0]), "--web", str(folder), "--play", str(motion_file)]) == 0
    assert {p.name for p in folder.iterdir()} == {*PAGE, HEADER, PAYLOAD, SEQUENCE}
    sequence = json.loads((folder / SEQUENCE).read_text())
    assert sequence["fps"] == 25.0 and len(sequence["expression"]) == 3
    assert np.asarray(sequence["rotation"]).shape == (3, 3, 3)
    jaw = sequence["expression_names"].index("jawOpen")
    assert [frame[jaw] for frame in sequence["expression"]] == [0.0, 0.5, 1.0]
    # Again into the same folder: an earlier viewer folder is replaced.
    assert main(["export", str(trained_run[0]), "--web", str(folder)]) == 0
    assert not (folder / SEQUENCE).exists()
    # Served on the loopback interface, as `headsplat view` serves it.
    import urllib.request

    server = serve(folder)
    try:
        host, port = server.server_address
        assert host == "127.0.0.1"
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html").read().decode()
        assert "viewer.js" in page
    finally:
        server.shutdown()


def test_export_options_that_do_not_go_together(trained_run, motion_file, tmp_path, capsys):
    run = str(trained_run[0])
    assert main(["export", run, "--ply", str(tmp_path / "a.ply"), "--play", str(motion_file)]) == 2
    assert "--play goes with --web" in capsys.readouterr().err
    assert main(["export", run, "--sequence", str(motion_file)]) == 2
    assert "--ply-dir DIR go together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", run, "--ply", str(tmp_path / "a.ply"), "--web", str(tmp_path / "w")])


def test_sequence_export_writes_one_standard_ply_per_frame(trained_run, motion_file, tmp_path):
    run = trained_run[0]
    folder = tmp_path / "frames"
    assert main(["export", str(run), "--sequence", str(motion_file), "--ply-dir", str(folder)]) == 0
    index = json.loads((folder / "sequence.json").read_text())
    avatar = load_avatar(run)
    assert index["frames"] == 3 and index["gaussians"] == len(avatar.gaussians)
    frames = sorted(folder.glob("frame_*.ply"))
    assert [p.name for p in frames] == ["frame_00000.ply", "frame_00001.ply", "frame_00002.ply"]
    first, last = (PlyData.read(str(p))["vertex"] for p in (frames[0], frames[-1]))
    xyz = lambda v: np.stack([v["x"], v["y"], v["z"]], 1)  # noqa: E731
    # Each frame is the exact avatar, in the model axes of its rest pose (y up, as --ply).
    condition = next(load_motion(motion_file).conditions(avatar.rest_pose()))
    R, t = avatar.rest_pose()
    expected = (avatar.posed_gaussians(condition).means - t) @ R
    np.testing.assert_allclose(xyz(first), expected.numpy(), atol=1e-4)
    moved = np.linalg.norm(xyz(last) - xyz(first), axis=1)
    assert moved.max() > 1.0  # the head turned 0.4 rad and the jaw opened
    linear = linearise(avatar)
    torso = (linear.vertex_head_weight[linear.triangles] == 0).all(1)
    assert torso.any() and moved[torso].max() < 1e-3  # the shoulders stayed


def test_slider_regions_cover_every_name_once():
    names = ["browDown_L", "eyeBlink_R", "jawOpen", "mouthSmile_L", "cheekPuff", "noseSneer_L", "tongueOut"]
    groups = regions(names)
    assert sorted(name for group in groups.values() for name in group) == sorted(names)
    assert groups["jaw"] == ["jawOpen"] and groups["other"] == ["tongueOut"]


def test_view_serves_the_page_on_the_loopback_interface(trained_run):
    import os
    import subprocess
    import sys
    import urllib.request

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "headsplat.cli", "view", str(trained_run[0])]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()
        assert "http://127.0.0.1:" in line, server.stderr.read()
        url = line.split()[3]
        header = json.loads(urllib.request.urlopen(url.replace("index.html", HEADER)).read())
        assert header["count"] == len(load_avatar(trained_run[0]).gaussians)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_view_on_a_taken_port_says_so(trained_run, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["view", str(trained_run[0]), "--port", str(port)]) == 2
    assert f"cannot serve on port {port}" in capsys.readouterr().err
