"""Shared fixtures: the suite runs on 2 CPU cores, so torch stays at 2 threads."""

import pytest
import torch

from tests.shared_data import require_ict_model

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def ict_model(tmp_path_factory):
    """The shared ICT model, loaded once (its landmark correspondence derived into a temporary cache)."""
    from headsplat.head import load_head_model
    from headsplat.preprocess.landmarks import detect_single_image

    path = require_ict_model()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSPLAT_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_head_model(path, detect_single_image)


@pytest.fixture(scope="session")
def synthetic_subject(tmp_path_factory, ict_model):
    """A 64 px subject of the ICT head turning (:func:`tests.synthetic_subject.write_synthetic_subject`)."""
    from tests.synthetic_subject import write_synthetic_subject

    return write_synthetic_subject(tmp_path_factory.mktemp("subject") / "synthetic", ict_model, 64)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, ict_model):
    """A run folder trained through the CLI on a 32 px synthetic subject (8 steps, the geometry stage
    and the pose alignment on): (run, subject)."""
    from headsplat.cli import main
    from tests.synthetic_subject import write_synthetic_subject

    folder = tmp_path_factory.mktemp("trained")
    subject = write_synthetic_subject(folder / "subject", ict_model, 32)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
        args = ["train", str(subject), "-o", str(folder / "run"), "--steps", "8", "--size", "32"]
        args += ["--texels-per-cm", "0.5", "--set", "geometry.steps=5", "--set", "frames.align_at=0.5"]
        assert main(args) == 0
    return folder / "run", subject


@pytest.fixture(scope="session")
def speaking_run(tmp_path_factory, ict_model):
    """A run folder trained on the synthetic subject that talks
    (:func:`tests.synthetic_subject.write_speaking_subject`) with the regression band's config
    (:func:`tests.synthetic_subject.speaking_config`, seed 0): (run, subject)."""
    from headsplat.training.run import train_run
    from tests.synthetic_subject import speaking_config, write_speaking_subject

    folder = tmp_path_factory.mktemp("speaking")
    subject = write_speaking_subject(folder / "subject", ict_model)
    train_run(subject, folder / "run", speaking_config(0), model=ict_model, log=lambda _: None)
    return folder / "run", subject
