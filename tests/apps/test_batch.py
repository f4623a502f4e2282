"""`headsplat batch MANIFEST -o OUT`: every subject fitted as a Ray task, failures reported, resumable."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from itertools import islice
from pathlib import Path

import cv2
import pytest

from headsplat.apps.batch import LOG, RESULT, run_batch
from headsplat.cli import main
from headsplat.io.errors import InputError
from headsplat.io.manifest import read_manifest
from headsplat.io.video import iter_mp4, write_mp4
from tests.shared_data import D18, require_ict_model, require_shared

TINY = ["--crop-size", "128", "--tracking", "landmarks"]
TINY += ["--size", "32", "--steps", "4", "--texels-per-cm", "0.5"]
"""fit options small enough for a test: 128 px crops, the landmark fit alone (the photometric
stage has its tests), 32 px training, 4 steps."""


def _clip(path: Path, start: int) -> Path:
    """16 frames of d18 from ``start``, at 160 x 160."""
    frames = [
        cv2.resize(f, (160, 160), interpolation=cv2.INTER_AREA)
        for f in islice(iter_mp4(require_shared(D18)), start, start + 16)
    ]
    write_mp4(path, frames, 25.0)
    return path


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Two tiny subjects and a corrupt file (an mp4 header, then zeros), as a CSV manifest."""
    folder = tmp_path_factory.mktemp("batch_in")
    _clip(folder / "first.mp4", 0)
    _clip(folder / "second.mp4", 40)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(600))
    path = folder / "subjects.csv"
    path.write_text("video,name,options\nfirst.mp4,alice,\nsecond.mp4,bob,--steps 6\ncorrupt.mp4,,\n")
    return path


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """The head model and a private cache, in the environment Ray's workers inherit."""
    pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSPLAT_ICT_MODEL", str(require_ict_model()))
        patch.setenv("HEADSPLAT_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("RAY_AUTH_MODE", "disabled")  # a test cluster on localhost needs no token
        # Ray's sessions and its pointer to the last `ray start` go here, not to the user's /tmp/ray
        # (short: Ray's sockets live in it).
        ray_files = tempfile.mkdtemp(prefix="ray")
        patch.setenv("RAY_TMPDIR", ray_files)
        yield
    shutil.rmtree(ray_files, ignore_errors=True)


@pytest.fixture(scope="module")
def first_batch(tmp_path_factory, manifest, environment) -> tuple[Path, list[dict]]:
    """The manifest's batch, run once on an embedded Ray: its output folder and rows."""
    out = tmp_path_factory.mktemp("batch") / "out"
    return out, run_batch(manifest, out, TINY, cpus_per_task=1, total_cpus=2, log=lambda _: None)


def test_manifest_csv_and_yaml(tmp_path):
    (tmp_path / "a.csv").write_text("video,name,options\nclips/x.mp4,,\n/abs/y.mov,why,--steps 9 --size 64\n")
    entries = read_manifest(tmp_path / "a.csv")
    assert [e.name for e in entries] == ["x", "why"]
    assert entries[0].video == tmp_path / "clips" / "x.mp4" and entries[1].video == Path("/abs/y.mov")
    assert entries[1].options == ("--steps", "9", "--size", "64")
    (tmp_path / "b.yaml").write_text("- video: x.mp4\n- {video: y.mp4, name: y2, options: [--steps, '9']}\n")
    assert [(e.name, e.options) for e in read_manifest(tmp_path / "b.yaml")] == [
        ("x", ()),
        ("y2", ("--steps", "9")),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("video,name\nx.mp4,a\ny.mp4,a\n", "used twice"),
        ("name\na\n", "'video' column"),
        ("video,colour\nx.mp4,red\n", "unknown field"),
        ("video,name\nx.mp4,../up\n", "cannot be a folder name"),
        ("video,name\n", "lists no subjects"),
    ],
)
def test_bad_manifests_say_what_to_fix(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as error:
        read_manifest(path)
    assert str(path) in str(error.value)


def test_options_fit_refuses_stop_the_batch_before_it_starts(tmp_path, manifest, environment, capsys):
    with pytest.raises(InputError, match=r"subject alice.*--no-such-option"):
        run_batch(manifest, tmp_path / "out", ["--no-such-option"])
    assert not (tmp_path / "out" / "alice").exists()
    capsys.readouterr()
    # The command says the same and exits with 2.
    assert main(["batch", str(manifest), "-o", str(tmp_path / "out"), "--options", "--steps x"]) == 2
    assert "error: " in capsys.readouterr().err and not (tmp_path / "out" / "alice").exists()


def test_local_batch_fits_each_subject_and_reports_the_corrupt_file(first_batch):
    out, rows = first_batch
    assert [(r["name"], r["status"]) for r in rows] == [
        ("alice", "done"),
        ("bob", "done"),
        ("corrupt", "failed"),
    ]
    for row in rows[:2]:
        assert row["frames"] == 16 and 0 < row["landmark_px"] < 3
        assert row["tracked_psnr"] > 8 and row["psnr"] > 8 and 0 < row["lpips"] < 1
        assert (out / row["name"] / "avatar.ply").is_file()
    assert json.loads((out / "bob" / "config.json").read_text())["config"]["steps"] == 6  # its own option
    assert "cannot be read as a video" in rows[2]["error"] and "corrupt.mp4" in rows[2]["error"]
    with (out / "summary.csv").open() as file:
        assert [r["status"] for r in csv.DictReader(file)] == ["done", "done", "failed"]


def _interrupt_after_training(run: Path) -> None:
    """Leave ``run`` as a batch killed after its training would: no row, no eval, no orbit."""
    for name in (RESULT, LOG, "orbit.mp4"):
        (run / name).unlink()
    shutil.rmtree(run / "eval")


def test_a_rerun_finishes_only_what_was_left(first_batch, manifest):
    """bob as if killed after training: the rerun skips alice, continues bob from his trained
    avatar (no preprocessing, no training) and tries the corrupt file again."""
    out, _ = first_batch
    _interrupt_after_training(out / "bob")
    alice = (out / "alice" / "avatar.safetensors").stat().st_mtime_ns
    rows = run_batch(manifest, out, TINY, cpus_per_task=1, total_cpus=2, log=lambda _: None)
    assert [r["status"] for r in rows] == ["done (earlier)", "done", "failed"]
    log = (out / "bob" / LOG).read_text()
    assert "preprocess: " in log and "train: " in log and log.count("skipped") == 3 and "eval on" in log
    assert (out / "bob" / "eval" / "metrics.json").is_file()
    assert (out / "alice" / "avatar.safetensors").stat().st_mtime_ns == alice


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def ray_head() -> Iterator[tuple[str, int]]:
    """A Ray cluster of the test's own (``ray start --head`` on the loopback, one CPU): its address
    and its process group. Leaving, it stops that group's processes alone: ``ray stop`` would stop
    every Ray cluster on the machine, the user's too."""
    ray_cli = Path(sys.executable).parent / "ray"
    port = _free_port()
    start = [str(ray_cli), "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"]
    # A session of its own: the head's processes (GCS, raylet, agents) share its process group.
    starter = subprocess.Popen(
        start, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, error = starter.communicate(timeout=120)
        assert starter.returncode == 0, error.decode()[-2000:]
        yield f"127.0.0.1:{port}", starter.pid
    finally:
        with suppress(ProcessLookupError):
            os.killpg(starter.pid, signal.SIGKILL)  # the GCS ignores SIGTERM for seconds


def _running(group: int, settle: float = 5.0) -> bool:
    """Whether a process of the process group ``group`` is alive (not exited, not a zombie) after
    waiting up to ``settle`` seconds for them all to end."""
    deadline = time.monotonic() + settle
    while True:
        states = []
        for status in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError):
                fields = status.read_text().rsplit(")", 1)[1].split()
                states += [fields[0]] if int(fields[2]) == group else []
        if all(state == "Z" for state in states) or time.monotonic() > deadline:
            return any(state != "Z" for state in states)
        time.sleep(0.1)


def test_batch_joins_a_running_ray_cluster_and_leaves_the_others_alone(first_batch, manifest):
    """``address`` against ``ray start --head`` on this machine: alice, interrupted, is finished
    by the cluster's worker. A bystander cluster (a user's, say) runs throughout: the embedded Ray
    does not join it, and stopping the test's cluster leaves it running."""
    import ray

    from headsplat.apps.batch import _start_ray

    out, _ = first_batch
    _interrupt_after_training(out / "alice")
    with ray_head() as (bystander, bystander_group):
        with ray_head() as (address, group):
            rows = run_batch(manifest, out, TINY, address=address, cpus_per_task=1, log=lambda _: None)
            # Embedded, with two clusters about (the last one started is where `ray.init()` goes).
            _start_ray(None, 1)
            try:
                joined = ray.get_runtime_context().gcs_address.rsplit(":", 1)[1]
            finally:
                ray.shutdown()
            assert joined not in (bystander.rsplit(":", 1)[1], address.rsplit(":", 1)[1])
        assert not _running(group)
        assert _running(bystander_group)
    assert [r["status"] for r in rows] == ["done", "done (earlier)", "failed"]
    assert (out / "alice" / "eval" / "metrics.json").is_file() and rows[0]["frames"] == 16
