"""Other train/test splits of a subject, each written as a new subject folder that links to its
source's frames, masks and tracking and records its own split in ``meta.json``
(``headsplat split``).

A few training frames (``--train-frames N``) measure how much video an avatar needs: N frames
chosen to differ as much as they can in head pose and expression, the test frames unchanged.

The novel-view split measures what every other score misses: how the avatar looks from a side the
training frames did not show. It trains on the frames seen within ``limit`` degrees of yaw of the
clip's median view and tests on the frames turned at least ``limit + gap`` away from it (the gap
keeps near-duplicates of training views out of the test), plus the near-frontal frames of the
clip's last fifth (the usual test frames), so a gain on the turned frames can be checked for a
loss on the front.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headsplat.geometry import view_angles
from headsplat.io.atomic import atomic_folder
from headsplat.io.errors import InputError
from headsplat.io.subject import META, TEST_FRACTION, Subject, check_output_folder, write_json

NOVEL_VIEW_GAP = 10.0
"""Degrees of yaw between the last training view and the first turned test view."""
TURNED_SHARE = 0.2
"""The share of the frames the automatic limit leaves turned, and the least share each side of
the split must have."""
MIN_LIMIT = 2.0
"""Degrees: a frontal band narrower than this is a head that hardly turns, not a split."""
LINKED = ("frames", "masks", "tracking.npz")
"""What a split subject shares with its source."""


@dataclass(frozen=True)
class NovelViewSplit:
    """Frame numbers of a novel-view split and how it was made.

    ``yaw`` (F,) is each frame's yaw in degrees from the clip's median view (``median_yaw``,
    :func:`~headsplat.geometry.view_angles`); ``train`` and ``frontal`` lie within ``limit`` of it
    (``frontal`` in the clip's last ``test_fraction``), ``turned`` at least ``limit + gap`` away.
    """

    train: np.ndarray
    frontal: np.ndarray
    turned: np.ndarray
    yaw: np.ndarray
    median_yaw: float
    limit: float
    gap: float

    def meta(self) -> dict:
        """The split as ``meta.json`` records it: ``train``, ``test`` (turned and frontal) and
        ``novel_view`` (the groups, the limits and every frame's yaw)."""
        return {
            "train": self.train.tolist(),
            "test": np.union1d(self.frontal, self.turned).tolist(),
            "novel_view": {
                "median_yaw": round(self.median_yaw, 2),
                "limit": round(self.limit, 2),
                "gap": self.gap,
                "frontal": self.frontal.tolist(),
                "turned": self.turned.tolist(),
                "yaw": np.round(self.yaw, 2).tolist(),
            },
        }


def novel_view_split(
    yaw: np.ndarray,
    *,
    limit: float | None = None,
    gap: float = NOVEL_VIEW_GAP,
    share: float = TURNED_SHARE,
    test_fraction: float = TEST_FRACTION,
    where: str = "the clip",
) -> NovelViewSplit:
    """Split frames by their yaw (F,) in degrees.

    ``limit`` None: the widest frontal band that leaves ``share`` of the frames turned. ``where``
    names the clip in errors.

    Raises:
        InputError: the head turns too little for the split, or a side of it would be too small.
    """
    median = float(np.median(yaw))
    relative = np.asarray(yaw, float) - median
    turn = np.abs(relative)
    n_frames = len(turn)
    if limit is None:
        n_turned = max(1, int(np.ceil(share * n_frames)))
        limit = float(np.sort(turn)[::-1][n_turned - 1]) - gap
        if limit < MIN_LIMIT:
            raise InputError(
                f"{where}: the head turns too little for a novel-view split: {share:.0%} of the "
                f"frames turn {limit + gap:.1f} degrees or more from the clip's median view, and the "
                f"split needs them beyond a frontal band of at least {MIN_LIMIT:.0f} degrees plus "
                f"{gap:.0f}. Record a clip that turns the head slowly left and right, or pass "
                "--yaw-limit (and --gap) to choose the split yourself."
            )
    frontal_band = turn <= limit
    last = np.arange(n_frames) >= n_frames - max(1, round(n_frames * test_fraction))
    split = NovelViewSplit(
        train=np.flatnonzero(frontal_band & ~last),
        frontal=np.flatnonzero(frontal_band & last),
        turned=np.flatnonzero(turn >= limit + gap),
        yaw=relative,
        median_yaw=median,
        limit=limit,
        gap=gap,
    )
    for name, frames in (("training", split.train), ("turned test", split.turned)):
        if len(frames) < max(1, share * n_frames / 2):
            raise InputError(
                f"{where}: a frontal band of ±{limit:.1f} degrees and a gap of {gap:.0f} leave "
                f"{len(frames)} {name} frames of {n_frames}; choose another --yaw-limit or --gap."
            )
    return split


def subject_view_angles(subject: Subject) -> np.ndarray:
    """(F, 2) each frame's tracked yaw and pitch in degrees (:func:`~headsplat.geometry.view_angles`)."""
    return view_angles(subject.tracking["rotation"], subject.tracking["translation"])


def write_split_subject(source: Subject, output: str | os.PathLike, split: dict, *, overwrite: bool) -> Path:
    """Write a subject folder at ``output`` with ``source``'s frames, masks and tracking (links to
    the files themselves, so a split of a split leads to the source) and ``split`` (a
    ``meta.json`` split: ``train``, ``test``, anything else it records); returns its path.

    Raises:
        InputError: ``output`` is the source, or exists and may not be replaced.
    """
    output = Path(output)
    if output.resolve() == source.path.resolve():
        raise InputError(
            f"{output}: that is the source subject; give the split subject its own folder with -o."
        )
    check_output_folder(output, overwrite=overwrite)
    with atomic_folder(output) as partial:
        for name in LINKED:
            (partial / name).symlink_to((source.path / name).resolve())
        meta = {**source.meta, "split": split, "split_of": str(source.path.resolve())}
        write_json(partial / META, meta)
    return output
