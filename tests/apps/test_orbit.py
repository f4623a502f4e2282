"""`headsplat render --orbit`: a turntable of the neutral avatar."""

import numpy as np

from headsplat.cli import main
from headsplat.io.video import iter_mp4


def test_orbit_video_turns_the_head(trained_run, tmp_path):
    run, _ = trained_run
    video = tmp_path / "orbit.mp4"
    assert main(["render", str(run), "--orbit", "--frames", "4", "-o", str(video)]) == 0
    frames = np.stack(list(iter_mp4(video))).astype(float)
    assert frames.shape == (4, 32, 32, 3)
    background = np.abs(frames - 255).max(-1) < 20  # trained on a white background
    assert 0.1 < (~background).mean() < 0.9  # a head fills part of each frame
    # The profile's silhouette differs from the front's; a half turn mirrors it left-right.
    assert (background[0] != background[1]).mean() > 0.05
    assert (background[0] != background[2][:, ::-1]).mean() < (background[0] != background[1]).mean()
    assert main(["render", str(run)]) == 2  # nothing asked for
