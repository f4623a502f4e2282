"""Photos as people have them: one image, or a folder of a few of different sizes and
orientations (EXIF honoured), each cropped around its own face, all of them training frames, the
focal length held at its prior below three."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from headsplat.evaluation.evaluate import subject_of
from headsplat.io.errors import InputError
from headsplat.io.run import RunFolder
from headsplat.io.subject import load_subject
from headsplat.preprocess.pipeline import FOCAL_FROM_PHOTOS, preprocess

from .helpers import fast_config, resized, write_clip, write_png

RIGHT_EYE_CORNER, LEFT_EYE_CORNER = 33, 263


def padded(image: np.ndarray, width: int, height: int, left: int, top: int) -> np.ndarray:
    """``image`` on a grey canvas of ``width`` x ``height``, its top-left corner at (left, top)."""
    canvas = np.full((height, width, 3), 90, np.uint8)
    canvas[top : top + image.shape[0], left : left + image.shape[1]] = image
    return canvas


def write_sideways_jpeg(path, image: np.ndarray) -> None:
    """``image`` stored turned a quarter anticlockwise, with the EXIF orientation (6: turn it a
    quarter clockwise to show it) that a phone writes for a portrait held sideways."""
    from PIL import Image

    stored = Image.fromarray(np.ascontiguousarray(np.rot90(image, k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, quality=95, exif=exif)


@pytest.fixture(scope="module")
def photos(tmp_path_factory, d18_source) -> dict:
    """Three photos of the d18 face: landscape, sideways with EXIF, portrait."""
    folder = tmp_path_factory.mktemp("photos") / "album"
    write_png(folder / "a_landscape.png", padded(resized(d18_source[0], 200), 320, 200, 0, 0))
    write_sideways_jpeg(folder / "b_sideways.jpg", resized(d18_source[8], 260))
    write_png(folder / "c_portrait.png", padded(resized(d18_source[16], 240), 240, 330, 0, 60))
    return {"folder": folder, "sizes": [[320, 200], [260, 260], [240, 330]]}


def test_a_folder_of_photos_crops_each_around_its_face_and_trains_on_all(photos, head_model, tmp_path):
    report = preprocess(
        photos["folder"], tmp_path / "subject", fast_config(), model=head_model, log=lambda _: None
    )
    subject = load_subject(tmp_path / "subject")
    assert subject.split()[0].tolist() == [0, 1, 2] and subject.split()[1].tolist() == []
    recorded = subject.meta["photos"]
    assert [p["file"] for p in recorded] == ["a_landscape.png", "b_sideways.jpg", "c_portrait.png"]
    assert [p["size"] for p in recorded] == photos["sizes"]  # the sideways one turned upright
    for photo in recorded:  # each its own square, inside its photo, about the face's size
        crop, (width, height) = photo["crop"], photo["size"]
        assert crop["x"] + crop["side"] <= width and crop["y"] + crop["side"] <= height
    assert recorded[0]["crop"] != recorded[2]["crop"]
    landmarks = subject.tracking["landmarks"]
    across = landmarks[:, LEFT_EYE_CORNER] - landmarks[:, RIGHT_EYE_CORNER]
    assert (np.abs(across[:, 1]) < 0.2 * np.abs(across[:, 0])).all()  # eyes level in every crop
    assert (np.abs(across[:, 0]) > 0.15 * 128).all()  # the face fills its crop
    assert max(report["landmark_error_px"]["mean"], 0) < 6
    assert subject.meta["config"]["fit"]["smooth_pose"] == 0  # photos are no sequence
    assert subject.meta["config"]["fit"]["fit_focal"] and FOCAL_FROM_PHOTOS == 3
    with pytest.raises(InputError, match="has no held-out frames"):
        subject_of(RunFolder(tmp_path / "run"), None, subject.path)


def test_one_photo_keeps_the_focal_length_at_its_prior(photos, head_model, tmp_path):
    one = photos["folder"] / "b_sideways.jpg"
    preprocess(one, tmp_path / "one", fast_config(), model=head_model, log=lambda _: None)
    subject = load_subject(tmp_path / "one")
    assert subject.n_frames == 1 and subject.split()[0].tolist() == [0]
    assert subject.tracking["K"][0, 0] == pytest.approx(2.0 * 128)  # focal_init x size, not fitted
    assert not subject.meta["config"]["fit"]["fit_focal"]


def test_no_test_split_trains_on_every_frame_of_a_clip(d18_160, head_model, tmp_path):
    video = write_clip(tmp_path / "clip.mp4", d18_160[:8])
    preprocess(video, tmp_path / "all", fast_config(test_split=False), model=head_model, log=lambda _: None)
    meta = json.loads((tmp_path / "all" / "meta.json").read_text())
    assert meta["split"] == {"train": list(range(8)), "test": []} and "crop" in meta
    frame = cv2.imread(str(tmp_path / "all" / "frames" / "000000.png"))
    assert frame.shape == (128, 128, 3)


def test_a_clip_tracked_as_the_person_of_the_photos_keeps_their_identity_and_focal(
    photos, d18_160, head_model, tmp_path
):
    """``--identity-from``: the one check of the few-shot study without the clip's help."""
    import shutil

    preprocess(photos["folder"], tmp_path / "photos", fast_config(), model=head_model, log=lambda _: None)
    person = load_subject(tmp_path / "photos")
    video = write_clip(tmp_path / "clip.mp4", d18_160[:6])
    config = fast_config(size=96, identity_from=str(person.path))
    preprocess(video, tmp_path / "clip", config, model=head_model, log=lambda _: None)
    clip = load_subject(tmp_path / "clip")
    np.testing.assert_array_equal(clip.tracking["identity"], person.tracking["identity"])
    assert clip.tracking["K"][0, 0] == pytest.approx(person.tracking["K"][0, 0] * 96 / 128, rel=1e-5)
    # Eval takes the clip for an avatar trained on the photos, and no clip of anyone else.
    trained_on = SimpleNamespace(info={"training": {"subject": person.fingerprint}})
    assert clip.meta["identity_from"]["fingerprint"] == person.fingerprint
    assert subject_of(RunFolder(tmp_path / "run"), trained_on, clip.path).path == clip.path
    stranger = SimpleNamespace(info={"training": {"subject": "0" * 64}})
    with pytest.raises(InputError, match="nor tracked as its person"):
        subject_of(RunFolder(tmp_path / "run"), stranger, clip.path)
    other = tmp_path / "other"
    shutil.copytree(person.path, other)
    meta = json.loads((other / "meta.json").read_text())
    meta["head_model"]["sha256"] = "0" * 64
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="another head model"):
        preprocess(
            video, tmp_path / "x", fast_config(identity_from=str(other)), model=head_model, log=lambda _: None
        )
    assert not (tmp_path / "x").exists()
