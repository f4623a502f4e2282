"""`headsplat export --web DIR` and `headsplat view`: the browser viewer (``headsplat/web``: a page,
its WebGL2 renderer and nothing to build) beside the avatar's blendshape export and, optionally, a
driving sequence, in one static folder any file server can serve.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from importlib import resources
from pathlib import Path

import torch

from headsplat.apps.export.blendshapes import HEADER, write_blendshapes
from headsplat.avatar.linear import LinearAvatar
from headsplat.drive.motion import Motion
from headsplat.io.atomic import atomic_folder, check_replaceable

PAGE = ("index.html", "viewer.js", "splat.js", "viewer.css")
SEQUENCE = "sequence.json"


def rounded_list(values: torch.Tensor, digits: int) -> list:
    """``values`` as nested Python lists of floats rounded to ``digits`` (what the page reads)."""
    return values.detach().cpu().double().numpy().round(digits).tolist()


def sequence_json(motion: Motion) -> dict:
    """The page's sequence: ``fps``, ``expression_names`` (E), and per frame ``expression`` (E,),
    ``gaze`` (2, 2), ``rotation`` (3, 3) and ``translation`` (3,) in the avatar's world."""
    return {
        "fps": motion.fps,
        "expression_names": list(motion.expression_names),
        "expression": rounded_list(motion.expression, 4),
        "gaze": rounded_list(motion.gaze, 4),
        "rotation": rounded_list(motion.rotation, 6),
        "translation": rounded_list(motion.translation, 4),
    }


def write_web(linear: LinearAvatar, folder: str | os.PathLike, motion: Motion | None = None) -> Path:
    """Write the viewer folder: the page, the blendshape export and ``motion`` as its sequence.

    Raises:
        InputError: ``folder`` exists, is not empty and is not an earlier viewer folder.
    """
    folder = Path(folder)
    check_replaceable(folder, HEADER, "a headsplat viewer folder")
    with atomic_folder(folder) as temporary:
        page = resources.files("headsplat.web")
        for name in PAGE:
            (temporary / name).write_bytes(page.joinpath(name).read_bytes())
        write_blendshapes(linear, temporary)
        if motion is not None:
            (temporary / SEQUENCE).write_text(json.dumps(sequence_json(motion)))
    return folder


def serve(folder: str | os.PathLike, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A file server of ``folder`` on 127.0.0.1 (``port`` 0: a free one), serving in a thread;
    ``server.server_address`` tells the port, ``server.shutdown()`` stops it."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging each request (the terminal shows the URL, not a request log)."""

    def log_message(self, format: str, *args) -> None:
        pass
