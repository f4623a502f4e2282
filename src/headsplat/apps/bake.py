"""``headsplat bake RUN -o BAKED_RUN``: FATE's neural baking (:mod:`headsplat.baking.bake`) of a
trained run into a new run folder whose avatar reads its Gaussians' attributes from UV maps.

A baked run is a run like any other (``eval``, ``render``, ``reenact``, ``export`` take it): its
``avatar.safetensors`` holds the columns the maps give, its ``config.json`` the source's training
config and subject, and beside them ``bake.json`` (the source run, the settings, the codec, the
time) and ``maps/attributes.npz`` (the float value maps, :mod:`headsplat.baking.maps`). Baking
checkpoints into ``checkpoints/`` like training (with the source's training-frame corrections, so
``eval`` scores its training frames at the poses it trained on) and resumes with ``--resume``.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from headsplat.avatar.avatar import Avatar, load_avatar
from headsplat.baking.attributes import group_slices
from headsplat.baking.bake import BakeConfig, Baker, columns_from_maps
from headsplat.baking.edits import paste_sticker, recolour
from headsplat.baking.maps import (
    FLOAT_MAPS,
    codec_of,
    from_png_images,
    preview_image,
    read_maps,
    to_png_images,
    write_maps,
    write_maps_arrays,
    write_pngs,
)
from headsplat.baking.surface_regions import (
    REGIONS,
    hair_by_colour,
    regions_image,
    texel_regions,
    texel_triangles,
    triangle_regions,
)
from headsplat.evaluation.evaluate import subject_of, training_corrections
from headsplat.io.atomic import atomic_folder, atomic_write, check_replaceable
from headsplat.io.errors import InputError
from headsplat.io.job import ResumableJob
from headsplat.io.progress import ProgressBar
from headsplat.io.run import RunFolder
from headsplat.io.settings import from_dict, to_dict
from headsplat.training.data import load_frame_data

BAKE_INFO = "bake.json"


def lip_landmarks(head) -> np.ndarray | None:
    """(68,) the 68-point landmarks' vertices of ``head``'s model (for the lips region), or None
    when the head model file is not here or is another than the avatar's."""
    from headsplat.head import load_head_model

    try:
        model = load_head_model()
    except (OSError, ValueError):
        return None
    landmarks = model.extra.get("landmarks_multipie68")
    same = model.checksum == head.info.get("checksum") and model.triangles.shape[0] == len(head.triangles)
    return np.asarray(landmarks) if same and landmarks is not None else None


def surface_texels(head, colour: np.ndarray) -> np.ndarray:
    """(R, M * R) uint8 the region of each texel of the colour map (3, R, M * R)
    (:mod:`headsplat.baking.surface_regions`: the surface's, the front hair by colour)."""
    triangles = texel_triangles(head, colour.shape[1])
    texels = texel_regions(triangle_regions(head, lip_landmarks(head)), triangles)
    return hair_by_colour(head, texels, triangles, colour)


def baked_avatar(source: Avatar, columns: dict[str, torch.Tensor], info: dict) -> Avatar:
    """A copy of ``source`` whose Gaussian columns are ``columns`` (the rest kept), ``info`` in
    its ``info["baking"]``."""
    avatar = Avatar.from_state(source.state_dict(), source.metadata(), source.device)
    with torch.no_grad():
        for name, value in columns.items():
            getattr(avatar.gaussians, name).copy_(value)
    avatar.info["baking"] = info
    return avatar


def bake_run(
    run: str | Path,
    output: str | Path,
    config: BakeConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    settings_given: bool = False,
    log=lambda m: print(m, file=sys.stderr, flush=True),
) -> dict:
    """Bake ``run`` into ``output`` (or continue it); returns the bake info.

    Raises:
        InputError: ``run`` is not a finished run, or ``output`` clashes (the rule of
            :meth:`~headsplat.io.run.RunFolder.prepare`).
    """
    source = RunFolder(run)
    if not source.avatar_path.is_file():
        raise InputError(
            f"{source.path}: no finished avatar ({source.avatar_path.name}) to bake. Train it to the end "
            "first (`headsplat train SUBJECT -o RUN`, or --resume an interrupted run)."
        )
    if Path(output).resolve() == source.path.resolve():
        raise InputError(f"{output}: bake into a new folder (-o), not into the run itself.")
    job = ResumableJob(output, resume=resume, overwrite=overwrite, settings_given=settings_given)
    if job.continuing and (job.folder.path / BAKE_INFO).is_file():
        recorded = json.loads((job.folder.path / BAKE_INFO).read_text())
        config = from_dict(BakeConfig, recorded["config"])
    avatar = load_avatar(source.path)
    subject = subject_of(source, avatar, None)
    data = load_frame_data(subject, avatar.size).to(avatar.device)
    corrections = training_corrections(source)
    baker = Baker(avatar, data, config, corrections)
    parts = job.latest_parts()
    if parts is not None:
        baker.restore(parts)
        log(f"resumed {job.folder.path} at step {baker.step}")
    job.begin(subject.path, subject.fingerprint, source.read_config()["config"])
    info = {"source": str(source.path.resolve()), "mode": config.mode, "config": to_dict(config)}
    atomic_write(job.folder.path / BAKE_INFO, lambda p: p.write_text(json.dumps(info, indent=2) + "\n"))

    def checkpoint() -> None:
        current = baked_avatar(avatar, baker.baked_columns(), info)
        parts = baker.state() | {
            "frames": (corrections or {}, {}),  # for eval's training frames at their trained poses
            "avatar": (current.state_dict(), current.metadata()),
        }
        job.checkpoint(baker.step, parts)

    bar = ProgressBar(config.steps, baker.step, log_every=50)

    def progress(step: int, losses: dict[str, float], seconds: float) -> None:
        stage = "fit" if step <= config.fit_steps else "refine"
        fields = {"stage": stage, "loss": f"{losses['loss']:.4f}", "fit": f"{losses['fit']:.3f}"}
        bar.update(step, fields, seconds)

    baker.fit(progress, checkpoint)
    info |= {"steps": baker.step, "minutes": round(baker.seconds / 60, 2), "codec": baker.codec.state()}
    materials = avatar.head.info["material_names"]
    write_maps(
        job.folder.path / "maps", baker.maps(), baker.codec, material_names=materials, tiles=baker.tiles
    )
    atomic_write(job.folder.path / BAKE_INFO, lambda p: p.write_text(json.dumps(info, indent=2) + "\n"))
    minutes = baker.seconds / 60
    baked_avatar(avatar, baker.baked_columns(), info).save(job.folder.avatar_path)
    log(f"baked {len(avatar.gaussians)} Gaussians ({config.mode}) in {minutes:.1f} min -> {job.folder.path}")
    return info


def export_maps(run: str | Path, output: str | Path) -> Path:
    """``headsplat export BAKED_RUN --maps DIR``: the baked run's maps as PNGs
    (:mod:`headsplat.baking.maps`) and their exact float copy, in ``DIR`` (written complete or not
    at all).

    Raises:
        InputError: the run was never baked, or ``DIR`` is another folder's.
    """
    source = Path(run) / "maps" / FLOAT_MAPS
    if not source.is_file():
        raise InputError(
            f"{run}: not a baked run (no maps/{FLOAT_MAPS}). Bake it first: "
            f"`headsplat bake {run} -o BAKED_RUN`, then export BAKED_RUN's maps."
        )
    check_replaceable(output, FLOAT_MAPS, "map export")
    maps = read_maps(source)
    head = load_avatar(run).head
    preview = preview_image(maps, head.triangle_uvs.numpy(), head.triangle_material.numpy())
    with atomic_folder(output) as folder:
        shutil.copyfile(source, folder / FLOAT_MAPS)
        write_pngs(folder, maps)
        cv2.imwrite(str(folder / "preview.png"), cv2.cvtColor(preview, cv2.COLOR_RGB2BGR))
        colour = maps["maps"][group_slices(codec_of(maps).groups)["colour"]]
        regions = surface_texels(head, colour)
        cv2.imwrite(str(folder / "regions.png"), cv2.cvtColor(regions_image(regions), cv2.COLOR_RGB2BGR))
    return Path(output)


def maps_from_folder(folder: Path, baked: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, int]]:
    """The value maps a map folder (as :func:`export_maps` wrote it, then edited) holds, on top of
    the run's ``baked`` maps: where a group's PNG differs from the code of the folder's float copy
    (or of the run's maps, the copy deleted), the PNG's value replaces it; elsewhere the float
    values stay exact. Returns the maps and the changed texels per group.

    Raises:
        InputError: a PNG is missing or of the wrong size.
    """
    reference = read_maps(folder / FLOAT_MAPS) if (folder / FLOAT_MAPS).is_file() else baked
    expected = to_png_images(reference)
    images = {}
    for name, code in expected.items():
        path = folder / f"{name}.png"
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise InputError(
                f"{path}: missing or unreadable; export the maps again with `headsplat export --maps`."
            )
        if image.ndim == 3:
            image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)
        if image.shape != code.shape:
            raise InputError(
                f"{path}: an image of shape {image.shape}, the maps' is {code.shape}; edit the exported "
                "PNG in place, without resizing it or changing its channels."
            )
        images[name] = image
    values = reference["maps"].copy()
    from_png = from_png_images(images, reference)
    changed = {}
    for name, part in group_slices(codec_of(reference).groups).items():
        differs = images[name] != expected[name]
        differs = differs.any(-1) if differs.ndim == 3 else differs
        values[part][:, differs] = from_png[part][:, differs]
        changed[name] = int(differs.sum())
    return values, changed


@dataclass
class Recolour:
    """``edit --recolour REGION --hue H --saturation S --value V``
    (:func:`headsplat.baking.edits.recolour`)."""

    region: str
    hue: float = 0.0
    saturation: float = 1.0
    value: float = 1.0


def recoloured_maps(
    colour: np.ndarray, regions: np.ndarray, recolours: tuple[Recolour, ...]
) -> tuple[np.ndarray, dict[str, int]]:
    """The colour map (3, R, M * R) with ``recolours`` applied in turn to the texels' ``regions``
    (R, M * R) (:data:`~headsplat.baking.surface_regions.REGIONS`); the changed texels per recolour.

    Raises:
        InputError: an unknown or empty region, or a negative factor.
    """
    changed = {}
    for edit in recolours:
        if edit.region not in REGIONS:
            known = ", ".join(REGIONS[1:])
            raise InputError(f"--recolour {edit.region}: no such region; choose one of {known}.")
        where = regions == REGIONS.index(edit.region)
        if not where.any():
            raise InputError(
                f"--recolour {edit.region}: the region is empty in these maps (lips need the avatar's head "
                "model file at hand: set HEADSPLAT_ICT_MODEL)."
            )
        try:
            new = recolour(colour, where, hue=edit.hue, saturation=edit.saturation, value=edit.value)
        except ValueError as error:
            raise InputError(f"--recolour {edit.region}: {error}.") from None
        changed[f"recolour_{edit.region}"] = int((new != colour).any(0).sum())
        colour = new
    return colour, changed


@dataclass
class Sticker:
    """``edit --sticker IMAGE [--mask MASK] --at X,Y --sticker-size S`` (preview pixels)."""

    image: Path
    at: tuple[float, float]
    size: float
    mask: Path | None = None

    @classmethod
    def from_options(cls, image: str, at: str | None, size: float, mask: str | None) -> Sticker:
        """The sticker of ``--sticker IMAGE --at X,Y --sticker-size S [--mask MASK]``.

        Raises:
            InputError: ``--at`` missing or not two numbers.
        """
        try:
            x, y = (float(v) for v in (at or "").split(","))
        except ValueError:
            raise InputError("--sticker needs --at X,Y (pixels of the export's preview.png)") from None
        return cls(Path(image), (x, y), size, Path(mask) if mask else None)

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """(RGB (h, w, 3) uint8, alpha (h, w) in [0, 1]): the mask's grey levels, else the image's
        alpha channel, else opaque.

        Raises:
            InputError: an unreadable file, or a mask of another size.
        """
        image = cv2.imread(str(self.image), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise InputError(f"{self.image}: not an image headsplat can read (PNG or JPEG).")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        alpha = image[..., 3] / 255.0 if image.shape[2] == 4 else np.ones(image.shape[:2])
        if self.mask is not None:
            mask = cv2.imread(str(self.mask), cv2.IMREAD_GRAYSCALE)
            if mask is None or mask.shape != image.shape[:2]:
                raise InputError(f"{self.mask}: needs to be a grey image the size of {self.image}.")
            alpha = mask / 255.0
        return cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB), alpha


def edit_run(
    baked_run: str | Path,
    output: str | Path,
    *,
    maps_folder: str | Path | None = None,
    sticker: Sticker | None = None,
    overwrite: bool = False,
    recolours: tuple[Recolour, ...] = (),
) -> dict:
    """``headsplat edit BAKED_RUN [--maps DIR] [--sticker ...] [--recolour ...] -o EDITED_RUN``: a
    copy of the baked run whose maps (and so Gaussians) are those of ``DIR``
    (:func:`maps_from_folder`; default: its own), with its named regions recoloured and then a
    sticker pasted on the colour map; returns the changed texels per group and edit.

    Raises:
        InputError: nothing to edit, not a baked run, a bad sticker or recolour, or ``EDITED_RUN``
            exists (without ``overwrite``).
    """
    if maps_folder is None and sticker is None and not recolours:
        raise InputError("headsplat edit: give edited maps (--maps DIR), a --sticker and/or a --recolour.")
    source, folder = RunFolder(baked_run), RunFolder(output)
    float_maps = source.path / "maps" / FLOAT_MAPS
    if not float_maps.is_file():
        raise InputError(
            f"{source.path}: not a baked run (no maps/{FLOAT_MAPS}). Bake it first: `headsplat bake`."
        )
    if folder.path.exists() and any(folder.path.iterdir()):
        if not folder.is_run():
            raise InputError(
                f"{folder.path}: exists and is not a headsplat run folder; refusing to replace it."
            )
        if not overwrite:
            raise InputError(
                f"{folder.path}: already exists. Pass --overwrite to replace it, or choose another -o."
            )
    baked = read_maps(float_maps)
    values, changed = baked["maps"].copy(), {}
    if maps_folder is not None:
        values, changed = maps_from_folder(Path(maps_folder), baked)
    avatar = load_avatar(source.path)
    colour = group_slices(codec_of(baked).groups)["colour"]
    if recolours:
        regions = surface_texels(avatar.head, values[colour])
        values[colour], recoloured = recoloured_maps(values[colour], regions, recolours)
        changed |= recoloured
    if sticker is not None:
        try:
            pasted = paste_sticker(values[colour], *sticker.read(), at=sticker.at, size=sticker.size)
        except ValueError as error:
            raise InputError(f"--sticker: {error}; see the export's preview.png for coordinates.") from None
        changed["sticker"] = int((pasted != values[colour]).any(0).sum())
        values[colour] = pasted
    columns = columns_from_maps(avatar, torch.from_numpy(values), codec_of(baked))
    info = dict(avatar.info["baking"]) | {
        "edited_from": str(source.path.resolve()),
        "changed_texels": changed,
    }
    with atomic_folder(folder.path) as staging:
        shutil.copyfile(source.config_path, staging / source.config_path.name)
        shutil.copyfile(source.path / BAKE_INFO, staging / BAKE_INFO)
        write_maps_arrays(staging / "maps", baked | {"maps": values})
        baked_avatar(avatar, columns, info).save(staging / source.avatar_path.name)
    return changed
