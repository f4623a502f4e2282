"""The training frames' store: frames on disk at the training size, read one at a time."""

import cv2
import numpy as np
import pytest
import torch

from headsplat.io.subject import load_subject
from headsplat.training.data import FrameStore, load_frame_data

SIZE = 48


def test_store_gives_back_each_frame_and_mask_exactly():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, SIZE, SIZE, 3), dtype=np.uint8)
    masks = rng.integers(0, 256, (7, SIZE, SIZE), dtype=np.uint8)
    store = FrameStore(zip(images, masks, strict=True), SIZE)
    assert len(store) == 7
    for f in (6, 0, 3):  # any order
        np.testing.assert_array_equal(store.image(f).numpy(), images[f])
        np.testing.assert_array_equal(store.mask(f).numpy(), masks[f])
    read = store.read(2)
    read[:] = 0  # a frame read is the caller's copy: writing to it leaves the store as it was
    np.testing.assert_array_equal(store.image(2).numpy(), images[2])
    with pytest.raises(IndexError):
        store.read(7)


def test_targets_are_the_resized_frames_composited_on_the_background(synthetic_subject):
    """``target`` = area-resized frame x mask + background x (1 - mask), from the subject's PNGs."""
    subject = load_subject(synthetic_subject)
    data = load_frame_data(subject, SIZE)
    assert len(data.frames) == subject.n_frames and data.size == SIZE
    f = subject.n_frames - 1
    image = cv2.cvtColor(cv2.imread(str(subject.frame_path(f))), cv2.COLOR_BGR2RGB)
    mask = cv2.imread(str(subject.mask_path(f)), cv2.IMREAD_GRAYSCALE)
    image = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    alpha = cv2.resize(mask, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255
    assert 0.05 < alpha.mean() < 0.95  # a real silhouette, so the compositing is checked
    expected = image * alpha + 0.25 * (1 - alpha)
    torch.testing.assert_close(data.target(f, 0.25), torch.from_numpy(expected))
    torch.testing.assert_close(data.alpha(f), torch.from_numpy(alpha))
