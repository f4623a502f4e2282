"""The training progress bar: redrawn on a terminal, plain lines in logs."""

import io

from headsplat.io.progress import ProgressBar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_every_log_every_steps_and_at_the_end():
    stream = io.StringIO()
    bar = ProgressBar(120, stream=stream, log_every=50)
    for step in range(1, 121):
        bar.update(step, {"loss": f"{1 / step:.3f}", "gaussians": "1000"})
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["50/120", "100/120", "120/120"]
    assert "loss 0.008" in lines[-1] and "gaussians 1000" in lines[-1] and "[" + "#" * 24 + "]" in lines[-1]
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_one_redrawn_line_ending_in_a_newline():
    stream = _Terminal()
    bar = ProgressBar(10, done=4, stream=stream, redraw_seconds=0.0)
    for step in range(5, 11):
        bar.update(step, {"psnr": "30.00"})
    text = stream.getvalue()
    assert text.count("\r") == 6 and text.endswith("\n") and text.count("\n") == 1
    assert "10/10" in text.splitlines()[-1].split("\r")[-1]


def test_the_line_shows_progress_and_the_time_left():
    bar = ProgressBar(200, width=10)
    bar.started -= 10.0  # 10 s for the first 100 steps -> 10 s left
    line = bar.line(100, {"loss": "0.1"})
    assert line.startswith("100/200 [#####-----]") and "loss 0.1" in line
    assert "0:10 elapsed, 0:10 left" in line
