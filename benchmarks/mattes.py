"""The person masks' flicker, the segmenter's against soft mattes of its edge band.

    python benchmarks/mattes.py --out /tmp/quality [--clips d3 d10] [--images docs/images]
    python benchmarks/mattes.py --table   # the recorded rows, run nothing

For each clip's subject of quality.py's ``OUT`` (``OUT/subjects/CLIP[-TRACKING]``): the masks as
preprocess wrote them (the segmenter's probability, cut below the neck) and the soft mattes of
:func:`headsplat.preprocess.matting.soft_matte` (the segmenter run again on the written frames,
its edge band matted, the same neck cut kept as known background), each scored by
:func:`~headsplat.preprocess.matting.mask_flicker`: the mean IoU of the person regions of
consecutive frames whose tracked head turned less than 0.5 degrees (1: no flicker), and their
boundary IoU (the regions' pixels within 8 px of the edge at 512 px, where flicker lives); the
mattes also averaged over time within runs of still frames
(:func:`~headsplat.preprocess.matting.temporal_mean`, :data:`RADIUS`). Also the matting's seconds
per frame. ``--images`` writes one frame, its mask and its matte side by side.
The rows are recorded in ``--results`` (:data:`RESULTS`, committed) as ``CLIP-TRACKING.json`` with
the commit and the machine, and the table is printed from the records.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table_header, print_table_row, record, recorded
from headsplat.io.subject import Subject, load_subject
from headsplat.io.video import read_png, write_png
from headsplat.preprocess.landmarks import person_segmenter
from headsplat.preprocess.matting import BAND, mask_flicker, soft_matte, still_runs, temporal_mean
from headsplat.track import DEFAULT_TRACKER, TRACKERS

RESULTS = Path(__file__).resolve().parent / "results" / "mattes"
"""Where each clip's row is recorded, ``CLIP-TRACKING.json``."""

RADIUS = 2
"""The still-averaged mattes: each frame with up to this many either side in its still run."""


def frame_matte(segment, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) float32 the soft matte of a written frame ``image`` whose written mask is ``mask``
    (in [0, 1]; its zeros where the segmenter saw the person are the neck's cut)."""
    probability = segment(image)
    below_neck = (mask == 0) & (probability >= 0.5)
    return soft_matte(image, probability, half_width=BAND * image.shape[0], background=below_neck)


def mattes(subject: Subject, masks: list[np.ndarray], seconds: list[float]):
    """Each written frame's soft matte (``masks``: the frames' written masks), appending each
    one's matting time to ``seconds``."""
    with person_segmenter() as segment:
        for f, mask in enumerate(masks):
            image = read_png(subject.frame_path(f))
            started = time.perf_counter()
            yield frame_matte(segment, image, mask)
            seconds.append(time.perf_counter() - started)


VARIANTS = ("masks", "masks averaged", "mattes", "mattes averaged")


def measure(subject_path: Path, images: Path | None, clip: str) -> dict:
    """The clip's row: its frames, still pairs, matting time and each of :data:`VARIANTS`'
    :class:`~headsplat.preprocess.matting.Flicker`."""
    subject = load_subject(subject_path)
    rotation, runs = subject.tracking["rotation"], still_runs(subject.tracking["rotation"])
    # ~1 MB a frame at 512 px: fine for the shared clips.
    masks = [read_png(subject.mask_path(f)).astype(np.float32) / 255 for f in range(subject.n_frames)]
    seconds: list[float] = []
    soft = list(mattes(subject, masks, seconds))
    sequences = {
        "masks": masks,
        "masks averaged": temporal_mean(masks, runs, radius=RADIUS),
        "mattes": soft,
        "mattes averaged": temporal_mean(soft, runs, radius=RADIUS),
    }
    edge = BAND * subject.meta["size"]
    flicker = {name: mask_flicker(alpha, rotation, edge_width=edge) for name, alpha in sequences.items()}
    if images is not None:
        f = subject.n_frames // 2
        grey = [np.repeat(np.round(a[f] * 255).astype(np.uint8)[..., None], 3, -1) for a in (masks, soft)]
        images.mkdir(parents=True, exist_ok=True)
        write_png(images / f"matte_{clip}.png", np.concatenate([read_png(subject.frame_path(f)), *grey], 1))
    return {
        "clip": clip,
        "frames": subject.n_frames,
        "still_pairs": flicker["masks"].pairs,
        "matte_seconds": float(np.mean(seconds)),
        "flicker": {name: value._asdict() for name, value in flicker.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("quality"), help="quality.py's OUT folder")
    parser.add_argument("--clips", nargs="*", default=["d3", "d10"])
    parser.add_argument("--tracking", default=DEFAULT_TRACKER, choices=TRACKERS)
    parser.add_argument("--images", type=Path, help="write matte_CLIP.png (frame | mask | matte) here")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"recorded rows (default {RESULTS})")
    parser.add_argument("--table", action="store_true", help="print the recorded rows, run nothing")
    args = parser.parse_args()
    if not args.table:
        for clip in args.clips:
            name = clip if args.tracking == "landmarks" else f"{clip}-{args.tracking}"
            row = measure(args.out / "subjects" / name, args.images, clip)
            record(args.results, f"{clip}-{args.tracking}", row | {"tracking": args.tracking})
    rows = [row for clip in args.clips if (row := recorded(args.results, f"{clip}-{args.tracking}"))]
    print_table_header("clip | frames | still pairs | alpha | IoU | boundary IoU | matting s/frame | commit")
    for row in rows:
        for variant in VARIANTS:
            flicker = row["flicker"][variant]
            cells = [row["clip"], str(row["frames"]), str(row["still_pairs"]), variant]
            cells += [f"{flicker['iou']:.4f}", f"{flicker['boundary_iou']:.4f}"]
            cells += [f"{row['matte_seconds']:.2f}" if variant.startswith("mattes") else "-", row["commit"]]
            print_table_row(cells)
    if rows:
        print(f"\nmachine: {rows[0]['machine']}; still: the head turned < 0.5 degrees from the frame before")


if __name__ == "__main__":
    main()
