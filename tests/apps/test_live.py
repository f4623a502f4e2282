"""``headsplat live`` as a user runs it: the command in a child process, its page in headless
Chromium (skipped, with the reason, where the browser is not installed), driven by a real clip or by
Live Link Face packets built here byte by byte."""

import os
import socket
import struct
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from headsplat.apps.export import browser
from headsplat.apps.live.server import LiveServer
from headsplat.apps.live.session import open_source
from headsplat.apps.live.sources import ArkitCsvSource, VideoSource
from headsplat.avatar import load_avatar
from headsplat.drive.arkit import LIVE_LINK_FACE_COLUMNS
from headsplat.io.errors import InputError
from headsplat.io.video import write_mp4
from tests.apps.test_viewer import head_psnr
from tests.shared_data import SHARED_DATA, require_ict_model, require_shared

needs_browser = pytest.mark.skipif(browser.missing() is not None, reason=f"no browser: {browser.missing()}")
SIZE = 96
CLIP = SHARED_DATA / "liveportrait_clips" / "d12.mp4"


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """The child processes' environment: the head model, and one cache for its landmark
    correspondence (derived by the first, read by the others)."""
    return {
        **os.environ,
        "HEADSPLAT_ICT_MODEL": str(require_ict_model()),
        "HEADSPLAT_CACHE": str(tmp_path_factory.mktemp("live-cache")),
    }


@contextmanager
def live_command(run: Path, environment: dict, *source: str, port: int = 0):
    """``headsplat live RUN SOURCE... --port PORT --no-pose`` running; yields (process, its URL)."""
    command = [
        sys.executable,
        "-m",
        "headsplat.cli",
        "live",
        str(run),
        *source,
        "--port",
        str(port),
        "--no-pose",
    ]
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("headsplat live at http://127.0.0.1:"), f"the command said: {line!r}"
        yield process, line.split()[3]
    finally:
        process.terminate()
        process.wait(timeout=20)


def listening_addresses(port: int) -> set[str]:
    """The local IPv4 addresses a TCP socket listens on at ``port`` (Linux's /proc/net/tcp)."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, local_port = local.split(":")
        if int(local_port, 16) == port and state == "0A":  # LISTEN
            addresses.add(socket.inet_ntoa(struct.pack("<I", int(address, 16))))
    return addresses


def wait_for(page, condition: str, timeout: float = 60.0):
    """Poll the page's JavaScript expression ``condition`` until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.call(f"return {condition}")
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(
        f"the page never had {condition} (live: {page.call('return window.headsplat.live')})"
    )


def snapshot(page) -> tuple[dict, np.ndarray]:
    """The last condition the page applied and the canvas drawn from it."""
    return page.call_with_canvas("window.headsplat.render(); return window.headsplat.live.last.condition")


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@needs_browser
def test_a_clip_drives_the_page_live_and_the_page_reconnects(trained_run, environment):
    clip = require_shared(CLIP)
    run = trained_run[0]
    avatar = load_avatar(run)
    jaw = avatar.expression_names.index("jawOpen")
    source = ["--video", str(clip), "--loop", "--calibration-frames", "10"]
    port = free_tcp_port()
    with ExitStack() as stack:
        first_server, page_open = stack.enter_context(ExitStack()), stack.enter_context(ExitStack())
        _, url = first_server.enter_context(live_command(run, environment, *source, port=port))
        assert listening_addresses(port) == {"127.0.0.1"}  # never the machine's other interfaces
        page = page_open.enter_context(browser.open_page(f"{url}?size={SIZE}"))
        wait_for(page, "window.headsplat.live.conditions >= 20")
        page.set_camera(avatar.camera(SIZE).K.numpy(), np.eye(4))
        shots = [snapshot(page) for _ in range(30)]
        weights = np.array([shot[0]["expression"][jaw] for shot in shots])
        assert weights.max() - weights.min() > 0.15, "the clip's jaw opens and closes"
        # The page draws what headsplat renders for the condition it received.
        condition, opened = shots[int(weights.argmax())]
        given = avatar.condition(torch.tensor(condition["expression"]), torch.tensor(condition["gaze"]))
        exact = avatar.render(given, avatar.camera(SIZE)).image.numpy()
        assert head_psnr(opened, exact, avatar.info["background"]) > 35.0
        closed = shots[int(weights.argmin())][1]
        changed = np.abs(opened - closed).max(-1) > 0.1
        assert changed.sum() > 10 and np.nonzero(changed)[0].mean() > SIZE / 2  # the mouth, low
        status = page.call("return document.getElementById('live-status').textContent")
        assert "tracking" in status and "frames/s" in status
        # The server restarts on the same port: the open page reconnects by itself and is driven.
        first_server.close()
        received = page.call("return window.headsplat.live.conditions")
        process, url = stack.enter_context(live_command(run, environment, *source, port=port))
        wait_for(
            page, f"window.headsplat.live.connections >= 2 && window.headsplat.live.conditions > {received}"
        )
        # Closing the page leaves the server running: a new page connects and is driven.
        page_open.close()
        assert process.poll() is None
        again = stack.enter_context(browser.open_page(f"{url}?size={SIZE}"))
        wait_for(again, "window.headsplat.live.conditions >= 3")


def live_link_packet(values: np.ndarray, frame: int) -> bytes:
    """A packet as Live Link Face sends it (the layout pylivelinkface decodes): version (little-
    endian), the device id, the subject name, then big-endian frame time, rate and 61 floats."""
    name = b"iPhone"
    header = (
        struct.pack("<i", 6) + b"$" + b"0123456789abcdef0123456789abcdef0123" + struct.pack("!i", len(name))
    )
    timing = struct.pack("!i", frame) + struct.pack("!f", 0.0) + struct.pack("!ii", 60, 1) + bytes([61])
    return header + name + timing + struct.pack("!61f", *values)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@needs_browser
def test_arkit_packets_move_the_page_jaw(trained_run, environment):
    run = trained_run[0]
    avatar = load_avatar(run)
    jaw = avatar.expression_names.index("jawOpen")
    rest_jaw = float(avatar.neutral_expression[jaw])
    udp_port = free_udp_port()
    column = LIVE_LINK_FACE_COLUMNS.index("JawOpen")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(jaw_open: float, seconds: float, frame: int) -> int:
        for _ in range(round(seconds * 60)):
            values = np.zeros(len(LIVE_LINK_FACE_COLUMNS))
            values[column] = jaw_open
            sender.sendto(live_link_packet(values, frame), ("127.0.0.1", udp_port))
            frame += 1
            time.sleep(1 / 60)
        return frame

    source = ["--arkit-udp", str(udp_port)]
    with live_command(run, environment, *source) as (_, url), browser.open_page(f"{url}?size={SIZE}") as page:
        page.set_camera(avatar.camera(SIZE).K.numpy(), np.eye(4))
        frame = send(0.0, 0.5, 0)
        wait_for(page, "window.headsplat.live.conditions >= 20")
        closed_condition, closed = snapshot(page)
        send(1.0, 0.5, send(0.5, 0.3, frame))  # a ramp: half open, then wide open
        opened_condition, opened = snapshot(page)
    sender.close()
    assert closed_condition["expression"][jaw] == pytest.approx(rest_jaw, abs=1e-3)
    assert opened_condition["expression"][jaw] == pytest.approx(1.0, abs=1e-3)  # rest + 1, clamped
    changed = np.abs(opened - closed).max(-1) > 0.1
    assert changed.sum() > 10 and np.nonzero(changed)[0].mean() > SIZE / 2


@pytest.mark.parametrize(
    "source, said",
    [
        ({"camera": 9}, "camera 9"),
        ({"video": "no-such-clip.mp4"}, "no-such-clip.mp4: no such file"),
        ({"arkit_csv": "no-such-take.csv"}, "no-such-take.csv"),
        ({"arkit_udp": "IN USE"}, "UDP port"),
        ({}, "give exactly one source"),
        ({"camera": 0, "video": "clip.mp4"}, "given: --camera, --video"),
    ],
)
def test_a_bad_source_says_what_is_wrong(source, said):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 0))
        source = {k: taken.getsockname()[1] if v == "IN USE" else v for k, v in source.items()}
        with pytest.raises(InputError, match=said):
            open_source(**source)


def test_a_port_in_use_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=f"port {port}: cannot serve there"):
            LiveServer(tmp_path, port, greeting={})


def test_the_command_exits_2_on_a_bad_source(trained_run, environment):
    command = [sys.executable, "-m", "headsplat.cli", "live", str(trained_run[0]), "--camera", "9"]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "error: camera 9: cannot be opened" in result.stderr, result.stderr[
        -2000:
    ]


def test_a_video_source_plays_at_its_frame_rate_and_drops_what_is_not_read(tmp_path):
    video = tmp_path / "clip.mp4"
    frames = [np.full((32, 32, 3), 8 * k, np.uint8) for k in range(12)]
    write_mp4(video, frames, 25.0)
    source = VideoSource(video).start()
    first = source.samples.get(timeout=10)
    time.sleep(0.2)  # busy with one frame for five frame periods
    newest = source.samples.get(timeout=1)
    rest = []
    while (sample := source.samples.get(timeout=2)) is not None:
        rest.append(sample)
    source.stop()
    assert first.index == 0 and 4 <= newest.index <= 6  # the newest, not the next
    assert source.samples.dropped == newest.index - 1
    times = np.array([s.time for s in rest])
    assert np.diff(times).mean() == pytest.approx(1 / 25, rel=0.25)  # a camera's pace, not decode speed
    assert rest[-1].index == 11


def test_an_arkit_capture_replays_at_its_timecodes_in_live_link_face_order(tmp_path):
    header = ["Timecode", "BlendShapeCount", "JawOpen", "HeadYaw"]
    rows = [f"00:00:01:{k:02d}.000,61,{k / 10:.1f},0.2" for k in range(6)]
    take = tmp_path / "take.csv"
    take.write_text("\n".join([",".join(header), *rows]) + "\n")
    source = ArkitCsvSource(take, capture_fps=30.0).start()
    samples = []
    while (sample := source.samples.get(timeout=2)) is not None:
        samples.append(sample)
        time.sleep(0.001)
    jaw, yaw = LIVE_LINK_FACE_COLUMNS.index("JawOpen"), LIVE_LINK_FACE_COLUMNS.index("HeadYaw")
    assert [s.data[jaw] for s in samples] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert all(s.data[yaw] == pytest.approx(0.2) for s in samples)
    assert samples[-1].time - samples[0].time == pytest.approx(5 / 30, abs=0.03)
