"""Animation frames (issue 20): which layers look like frames, and what keeps them from being one animation.

GIMP's Playback and its GIF and WebP exporters read a frame's timing from its
layer's name: a ``(100ms)`` tag, and ``(combine)`` or ``(replace)``.  They take
only top-level layers as frames, bottom first (docs/frames_design.md, 0-1).
Pure (no GIMP, no pyzmq), so that ordinary unit tests reach it
(tests/test_frames_names.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MS_TAG = re.compile(r"\( *(\d+) *ms *\)", re.IGNORECASE)  # Playback's is_ms_tag: the first such tag anywhere
DISPOSAL_TAG = re.compile(r"\((combine|replace)\)")  # case-sensitive, as every reader spells it

UNOPTIMIZE = "for an optimized GIF use Filters > Animation > Unoptimize"
UNOPTIMIZE_HINT = f"{UNOPTIMIZE}, else Layer > Layer to Image Size, then try again"


def frame_delay(name: str) -> int | None:
    """The frame's delay in milliseconds its name gives, or None (no tag: the reader's default)."""
    match = MS_TAG.search(name)
    return int(match.group(1)) if match else None


def is_tagged(name: str) -> bool:
    """Whether a layer name carries a frame-timing or disposal tag."""
    return MS_TAG.search(name) is not None or DISPOSAL_TAG.search(name) is not None


def combines(name: str) -> bool:
    """Whether the readers draw this frame over the frames below it: its first disposal tag (the exporters read
    the first, anywhere) is "(combine)", or it has none (Playback's default)."""
    match = DISPOSAL_TAG.search(name)
    return match is None or match.group(1) == "combine"


def looks_like_frames(names_bottom_first: list[str]) -> bool:
    """Two or more layers, every one above the bottom one tagged (GIF loaders may leave the bottom one a plain
    "Background"): an animation, so the dialog turns frames mode on by itself.  Keyed on the tags, never on
    the word "Frame", which the loaders translate."""
    return len(names_bottom_first) >= 2 and all(is_tagged(name) for name in names_bottom_first[1:])


@dataclass(frozen=True)
class FrameInfo:
    """What frames mode needs to know of one selected layer (read from GIMP by frame_job.py)."""

    name: str
    width: int
    height: int
    visible: bool = True
    is_group: bool = False
    parent_name: str | None = None  # the group it is in; None at the top level
    partial: bool = False  # some pixel is transparent (alpha < 255); frame_job reads it for combining frames only


def frame_problems(frames: list[FrameInfo]) -> str | None:
    """The first reason the selected layers cannot be stylized as one animation, as a message; None when
    they can.  ``frames`` in play order (the bottom frame first).  Checked in this order: a group, a layer
    inside a group, a hidden layer, sizes that differ, a frame above the bottom one that is drawn over the
    frames below it and has transparent pixels (an optimized GIF's partial frame: stylized alone it is wrong)."""
    for frame in frames:
        if frame.is_group:
            return (f"'{frame.name}' is a layer group. Playback and GIF/WebP export show a group as one frame: "
                    "select the frames themselves, or turn off Animation frames.")
    for frame in frames:
        if frame.parent_name is not None:
            return (f"'{frame.name}' is inside the group '{frame.parent_name}'. Playback and GIF/WebP export take "
                    "only top-level layers as frames: move the frames out of the group, or turn off Animation frames.")
    for frame in frames:
        if not frame.visible:
            return (f"'{frame.name}' is hidden. Show it (the eye in the Layers dialog) or leave it out of the "
                    "selection.")
    first = frames[0] if frames else None
    for frame in frames[1:]:
        if (frame.width, frame.height) != (first.width, first.height):
            return (f"The frames differ in size: '{first.name}' is {first.width}×{first.height} px, '{frame.name}' "
                    f"{frame.width}×{frame.height} px. Frames mode needs frames of one size: {UNOPTIMIZE_HINT}.")
    for frame in frames[1:]:  # the bottom frame is drawn over nothing; a (replace) frame's transparency is its own
        if frame.partial and combines(frame.name):
            return (f"'{frame.name}' is drawn over the frames below it (it has transparent pixels): frames mode needs "
                    f"whole frames: {UNOPTIMIZE}, then try again; if the transparency is the frame's own, end its "
                    "name with (replace).")
    return None
