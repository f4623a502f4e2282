"""``headsplat export``: one kind of export of a trained avatar per call, chosen by which output
is given."""

from __future__ import annotations

from pathlib import Path

from headsplat.io.errors import InputError
from headsplat.io.files import folder_megabytes


def export_run(
    run_folder: str | Path,
    *,
    ply: str | Path | None = None,
    sequence: str | Path | None = None,
    ply_dir: str | Path | None = None,
    blendshapes: str | Path | None = None,
    web: str | Path | None = None,
    play: str | Path | None = None,
    maps: str | Path | None = None,
) -> str:
    """Export the avatar of ``run_folder`` (a run folder or an avatar file) as the one output
    given: ``maps`` (a baked run's attribute maps), ``ply`` (3DGS at rest), ``sequence`` with
    ``ply_dir`` (one .ply a frame of a motion), ``blendshapes`` or ``web`` (with ``play``, a
    motion the page plays); returns what was written, for the user.

    Raises:
        InputError: options that do not go together, or the run's own errors.
    """
    from headsplat.avatar.avatar import load_avatar

    if maps:
        from headsplat.apps.bake import export_maps

        folder = export_maps(run_folder, maps)
        return f"wrote the attribute maps to {folder} ({folder_megabytes(folder):.1f} MB)"
    avatar = load_avatar(run_folder)  # on the CPU: exports are cheap, and its rasterizer is always there
    if play and not web:
        raise InputError("headsplat export: --play goes with --web (the page's sequence).")
    if bool(sequence) != bool(ply_dir):
        raise InputError("headsplat export: --sequence CONDITIONS and --ply-dir DIR go together.")
    if ply:
        from headsplat.apps.export.ply import export_avatar_ply

        return f"wrote {export_avatar_ply(avatar, ply)} Gaussians to {ply}"
    if sequence:
        from headsplat.apps.export.sequence import export_sequence
        from headsplat.apps.reenact import played_motion

        motion = played_motion(avatar, sequence)
        folder = export_sequence(avatar, motion, ply_dir)
        size = folder_megabytes(folder)
        return f"wrote {len(motion)} frames of {len(avatar.gaussians)} Gaussians to {folder} ({size:.0f} MB)"
    from headsplat.avatar.linear import linearise

    linear = linearise(avatar)
    if blendshapes:
        from headsplat.apps.export.blendshapes import export_blendshapes

        folder = export_blendshapes(linear, blendshapes)
    else:
        from headsplat.apps.export.web import write_web
        from headsplat.apps.reenact import played_motion

        folder = write_web(linear, web, played_motion(avatar, play) if play else None)
    return (
        f"wrote {len(linear)} Gaussians on {len(linear.vertices)} vertices x "
        f"{len(linear.expression_names)} blendshapes to {folder} ({folder_megabytes(folder):.1f} MB)"
    )
