"""A long job in a run folder that can be stopped and continued: ``train``, ``fit``, ``bake``.

The job owns the run folder's rule (:meth:`~headsplat.io.run.RunFolder.prepare`), the recorded
config, the checkpoints and the stale avatar; the caller supplies only its named parts
(:data:`~headsplat.io.checkpoint.Parts`) and restores them itself. A job's life::

    job = ResumableJob(output, resume=..., overwrite=...)
    recorded = job.recorded_config()          # None for a new run
    parts = job.latest_parts()                # None when there is nothing to continue from
    ... build the job's state from parts, or anew ...
    job.begin(subject_path, fingerprint, config)
    ... run, calling job.checkpoint(step, parts) now and then ...
    avatar.save(job.folder.avatar_path)       # last: the avatar file marks the job complete
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from headsplat.io.checkpoint import Parts, load_parts, save_parts
from headsplat.io.run import RunFolder


class ResumableJob:
    """The job writing into the run folder ``output``, prepared by the folder's rule: a new run,
    or one to continue (``resume``), or one to restart (``overwrite``; the entries named in
    ``keep`` are kept). ``settings_given``: the caller set the job's config from options, refused
    for a run that continues with its own.

    Raises:
        InputError: the folder clashes (see :meth:`~headsplat.io.run.RunFolder.prepare`).
    """

    def __init__(
        self,
        output: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        keep: Iterable[str] = (),
        settings_given: bool = False,
    ):
        self.folder = RunFolder(output)
        self.continuing = self.folder.prepare(
            resume=resume, overwrite=overwrite, keep=tuple(keep), settings_given=settings_given
        )

    def recorded_config(self) -> dict | None:
        """The ``config.json`` of the run that continues (None for a new run)."""
        return self.folder.read_config() if self.continuing else None

    def latest_parts(self) -> Parts | None:
        """The parts of the newest checkpoint of the run that continues (None for a new run, or
        one that has none yet)."""
        latest = self.folder.latest_checkpoint() if self.continuing else None
        return None if latest is None else load_parts(latest)

    def begin(self, subject: Path, fingerprint: str | None, config: dict) -> None:
        """Record the job's subject and config, and remove the avatar file, stale until the job
        completes again."""
        self.folder.write_config(subject, fingerprint, config)
        self.folder.avatar_path.unlink(missing_ok=True)

    def checkpoint(self, step: int, parts: Parts) -> None:
        """Write ``parts`` as the checkpoint of ``step``, keeping the newest two."""
        save_parts(self.folder.checkpoints, step, parts)
        self.folder.prune_checkpoints()
