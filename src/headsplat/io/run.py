"""The run folder: what ``headsplat train`` (and ``fit``) write, and every later command reads.

Layout (format 2)::

    RUN/
      config.json                 format_version, subject {path, fingerprint}, the run config
      checkpoints/step_NNNNNNN.*  the newest two training checkpoints (:mod:`headsplat.io.checkpoint`)
      avatar.safetensors          the trained avatar, self-contained (:class:`headsplat.avatar.Avatar`)
      eval/  orbit.mp4  avatar.ply  what eval, render and export write
      subject/                    the subject folder, when ``headsplat fit`` made the run

The subject's path is stored relative to the run when it lies inside it, so a run folder made by
``fit`` can be moved as a whole; the fingerprint (sha256 of ``tracking.npz``) tells a moved or
different subject apart. Every long command follows one rule for an existing folder
(:meth:`RunFolder.prepare`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from headsplat.io.atomic import atomic_write
from headsplat.io.checkpoint import latest_checkpoint
from headsplat.io.errors import InputError

FORMAT_VERSION = 2
CONFIG = "config.json"
CHECKPOINTS = "checkpoints"
AVATAR = "avatar.safetensors"
KEEP_CHECKPOINTS = 2


class RunFolder:
    """A run folder at ``path`` (it need not exist yet)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def avatar_path(self) -> Path:
        return self.path / AVATAR

    def is_run(self) -> bool:
        return self.config_path.is_file()

    def prepare(
        self,
        *,
        resume: bool = False,
        overwrite: bool = False,
        keep: tuple[str, ...] = (),
        settings_given: bool = False,
    ) -> bool:
        """Apply the rule every long command (train, fit, ...) follows; returns whether there is a
        run to continue.

        A missing or empty folder starts a new run. An existing run needs ``resume`` (continue:
        from its last checkpoint, or from step 0 if it has none) or ``overwrite`` (restart: its
        contents are deleted, except the entries named in ``keep``). A run continues with its own
        settings: ``settings_given`` (the caller has options that set some) is then refused rather
        than ignored. A non-empty folder that is not a run is never touched.

        Raises:
            InputError: naming the fix.
        """
        if resume and overwrite:
            raise InputError("--resume continues a run and --overwrite restarts it: pass one of them.")
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"{self.path}: exists and is not a folder. Choose another output folder.")
        if not self.path.exists() or not any(self.path.iterdir()):
            return False
        if not self.is_run():
            raise InputError(
                f"{self.path}: exists and is not a headsplat run folder (no {CONFIG}); refusing to use "
                "it. Choose another output folder."
            )
        if resume and settings_given:
            raise InputError(
                f"{self.path}: --resume continues the run with its own settings (config.json); "
                "settings options apply to new runs (--overwrite restarts it, or choose another -o)."
            )
        if resume:
            return True
        if overwrite:
            for entry in self.path.iterdir():
                if entry.name not in keep:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            return False
        raise InputError(
            f"{self.path}: already exists. Pass --resume to continue it or --overwrite to restart it."
        )

    def read_config(self) -> dict:
        """``config.json`` as written by :meth:`write_config`.

        Raises:
            InputError: not a run folder, or one written by another format.
        """
        if not self.is_run():
            raise InputError(
                f"{self.path}: not a headsplat run folder (no {CONFIG}). Train one with `headsplat train`."
            )
        values = json.loads(self.config_path.read_text())
        if values.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{self.path}: a run of another headsplat version (run format "
                f"{values.get('format_version', 1)}, this one reads {FORMAT_VERSION}). Retrain it: "
                "`headsplat train SUBJECT -o RUN --overwrite`."
            )
        return values

    def write_config(self, subject: Path, fingerprint: str | None, config: dict) -> None:
        """Write ``config.json`` atomically: the subject (relative to the run when inside it; its
        fingerprint None while it is not made yet) and the run config."""
        self.path.mkdir(parents=True, exist_ok=True)
        subject = Path(subject).resolve()
        try:
            recorded = str(subject.relative_to(self.path.resolve()))
        except ValueError:
            recorded = str(subject)
        values = {"format_version": FORMAT_VERSION, "subject": {"path": recorded, "fingerprint": fingerprint}}
        values["config"] = config
        atomic_write(self.config_path, lambda p: p.write_text(json.dumps(values, indent=2) + "\n"))

    def subject_path(self) -> Path:
        """Where the run's subject folder was when it was trained (resolved against the run)."""
        return self.path / self.read_config()["subject"]["path"]

    def latest_checkpoint(self) -> Path | None:
        return latest_checkpoint(self.checkpoints)

    def prune_checkpoints(self, keep: int = KEEP_CHECKPOINTS) -> None:
        """Delete all but the newest ``keep`` checkpoints (each is tens of MB)."""
        found = sorted(self.checkpoints.glob("step_*.json"))
        for old in found[: max(len(found) - keep, 0)]:
            old.unlink()  # first: a checkpoint without its JSON no longer counts
            old.with_suffix(".safetensors").unlink(missing_ok=True)
