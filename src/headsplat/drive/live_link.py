"""Live Link Face's UDP packets (Epic Games' iPhone app, "Live Link" streaming to a computer).

The layout, as the community library ``pylivelinkface`` (PyPI) documents it by decoding the app's
packets; all numbers big-endian but the first::

    int32 (little-endian)   packet version (6 in the app's current releases)
    37 bytes ASCII          the device's id ("$" and a UUID)
    int32                   length N of the subject name, then N bytes of UTF-8
    -- present only when a face is tracked --
    int32, float32          frame number, and the fraction of a frame (sub-frame)
    int32, int32            frame rate as numerator / denominator
    uint8                   count of values that follow: 61
    61 x float32            ARKit's 52 blendshapes, then head yaw, pitch, roll and each eye's yaw,
                            pitch, roll (:data:`headsplat.drive.arkit.LIVE_LINK_FACE_COLUMNS`)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from headsplat.drive.arkit import LIVE_LINK_FACE_COLUMNS

_ID_BYTES = 37
_TIMING = struct.Struct("!ifiiB")


@dataclass(frozen=True)
class LiveLinkFrame:
    """One packet with a face: ``values`` (61,) in :data:`LIVE_LINK_FACE_COLUMNS`' order, the
    subject ``name`` set in the app, its ``frame`` number and ``fps``."""

    values: np.ndarray
    name: str
    frame: int
    fps: float


def decode_live_link_packet(packet: bytes) -> LiveLinkFrame | None:
    """The frame in ``packet``, or None for a packet without a face (the app sends those while it
    has lost the face).

    Raises:
        ValueError: the bytes are not a Live Link Face packet (too short, a name that overruns
            it, another count of values than 61).
    """
    header = 4 + _ID_BYTES + 4
    if len(packet) < header:
        raise ValueError(f"a Live Link Face packet has at least {header} bytes, not {len(packet)}")
    (name_length,) = struct.unpack_from("!i", packet, 4 + _ID_BYTES)
    if not 0 <= name_length <= len(packet) - header:
        raise ValueError(f"subject name length {name_length} overruns the {len(packet)}-byte packet")
    name = packet[header : header + name_length].decode("utf-8", errors="replace")
    body = header + name_length
    if len(packet) == body:
        return None
    count = len(LIVE_LINK_FACE_COLUMNS)
    if len(packet) != body + _TIMING.size + 4 * count:
        raise ValueError(
            f"{len(packet) - body} bytes after the name; a face's packet has {_TIMING.size + 4 * count}"
        )
    frame, _, numerator, denominator, values_count = _TIMING.unpack_from(packet, body)
    if values_count != count:
        raise ValueError(f"the packet holds {values_count} values, not Live Link Face's {count}")
    values = np.frombuffer(packet, dtype=">f4", count=count, offset=body + _TIMING.size).astype(np.float64)
    return LiveLinkFrame(values, name, frame, numerator / denominator if denominator else float(numerator))
