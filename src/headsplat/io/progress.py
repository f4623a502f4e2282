"""A dependency-free progress bar for long loops: one redrawn line on a terminal, plain log lines
otherwise (CI logs, files, pipes), so output stays readable in both."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


class ProgressBar:
    """Shows ``done/total``, a bar, elapsed and remaining time, and caller-supplied fields.

    Args:
        total: number of steps. done: steps already done (a resumed run).
        stream: where to write (default stderr). log_every: without a terminal, write a line every
            this many steps (and at the end). redraw_seconds: minimum time between redraws.
    """

    def __init__(
        self,
        total: int,
        done: int = 0,
        *,
        stream: TextIO | None = None,
        log_every: int = 50,
        redraw_seconds: float = 0.25,
        width: int = 24,
    ):
        self.total, self.start_step = total, done
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every, self.redraw_seconds, self.width = log_every, redraw_seconds, width
        self.started = time.perf_counter()
        self.last_draw = -float("inf")

    def line(self, step: int, fields: dict[str, str], elapsed: float | None = None) -> str:
        """The status text at ``step`` (pure; used by :meth:`update`)."""
        spent = time.perf_counter() - self.started
        rate = (step - self.start_step) / spent if spent > 0 else 0.0
        remaining = (self.total - step) / rate if rate > 0 else float("nan")
        filled = round(self.width * step / max(self.total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        eta = _minutes(remaining) if remaining == remaining else "?"
        total_time = _minutes(elapsed if elapsed is not None else spent)
        parts = [f"{step}/{self.total} [{bar}]", *(f"{k} {v}" for k, v in fields.items())]
        return "  ".join([*parts, f"{total_time} elapsed, {eta} left"])

    def update(self, step: int, fields: dict[str, str], elapsed: float | None = None) -> None:
        """Report step ``step``; redraws or logs only when due."""
        last = step >= self.total
        if self.interactive:
            now = time.perf_counter()
            if last or now - self.last_draw >= self.redraw_seconds:
                self.last_draw = now
                self.stream.write("\r\033[K" + self.line(step, fields, elapsed) + ("\n" if last else ""))
                self.stream.flush()
        elif last or step % self.log_every == 0:
            self.stream.write("step " + self.line(step, fields, elapsed) + "\n")
            self.stream.flush()
