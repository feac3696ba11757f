"""Frames mode in GIMP (issue 20): the selected frames checked, and the new image their results go to.

The result is a new image, a duplicate of the source image holding only the
frame layers, each overwritten by its result under exactly its source's name,
position and offsets.  Playback and the GIF/WebP exporters read only top-level
layers, and GIMP would rename a second "Frame 3 (100ms) (replace)" in the same
image by appending " #1", which hides the trailing disposal tag from Playback
(docs/frames_design.md, 0).  The source image is never modified: Cancel or a
failure deletes the new image, Stop keeps the frames done so far.
"""

from __future__ import annotations

import observer
from failures import PluginError
from frames import FrameInfo, combines, frame_problems, looks_like_frames
from gi.repository import Gimp
from gimp_io import pixel_format, read_region
from layer_job import LayerJob, selected_layers

FRAMES_ARG = "frames"


def selected_frames(image, drawables) -> list:
    """The selected layers in play order (bottom of the stack first); PluginError naming the first problem."""
    layers = selected_layers(image, drawables, "the animation's frames (layers)")
    # GIMP's drawables come in the order they were selected, not in the stack's: Playback plays bottom first.
    frames = sorted(layers, key=image.get_item_position, reverse=True)
    problem = frame_problems([frame_info(layer) for layer in frames])
    if problem is not None:
        raise PluginError(problem)
    return frames


def frame_info(layer) -> FrameInfo:
    parent = layer.get_parent()
    group = bool(layer.is_group())
    return FrameInfo(layer.get_name(), layer.get_width(), layer.get_height(), bool(layer.get_visible()), group,
                     None if parent is None else parent.get_name(),
                     partial=not group and combines(layer.get_name()) and has_transparency(layer))


ROWS_READ = 1 << 20  # pixels read at a time: an opaque frame is read whole, one alpha byte a pixel


def has_transparency(layer) -> bool:
    """Whether some pixel of the layer is not fully opaque; read in strips of rows, up to the first such strip."""
    if not layer.has_alpha():
        return False
    width, height = layer.get_width(), layer.get_height()
    rows = max(1, ROWS_READ // max(1, width))
    for y in range(0, height, rows):
        alpha = read_region(layer, 0, y, width, min(rows, height - y), "A u8")
        if alpha.count(255) != len(alpha):
            return True
    return False


class FrameJob(LayerJob):
    """One frame's job: it reads the source frame and writes into that frame's copy in the new image."""

    def __init__(self, image, source, target, fmt: tuple[str, str]) -> None:
        super().__init__(image, source, (0, 0, source.get_width(), source.get_height()), fmt)
        self.target = target

    def create_layer(self, final_name: str, with_mask: bool) -> None:
        """No new layer: the copy in the new image is the result layer, and keeps its name (the timing tags)."""
        self.final_name = self.name
        self.layer = self.target
        observer.seen("created", self.layer)

    def remove(self) -> None:
        """The whole new image goes (Animation.discard); the source frames are never touched."""
        self.layer = None


class Animation:
    """The new image: a duplicate of the source image with only the frames at the top level."""

    def __init__(self, image, frames: list, interactive: bool) -> None:
        positions = [image.get_item_position(frame) for frame in frames]
        self.image = image.duplicate()
        self.image.undo_disable()  # built in one go: nothing to undo in an image that did not exist
        copies = self.image.get_layers()  # the top-level layers, in the source's order
        targets = [copies[position] for position in positions]
        wanted = {target.get_id() for target in targets}
        for layer in copies:
            if layer.get_id() not in wanted:
                self.image.remove_layer(layer)
        fmt = pixel_format(image)
        self.jobs = [FrameJob(image, frame, target, fmt) for frame, target in zip(frames, targets, strict=True)]
        self.display = Gimp.Display.new(self.image) if interactive else None  # the previews fill it as they come
        observer.seen("animation", None, image=self.image.get_id())

    def keep(self, count: int) -> None:
        """Stop: the first ``count`` frames stay, the frames not reached are removed (none done: no image)."""
        if count == 0:  # Stop pressed while the server was starting
            self.discard()
            return
        for job in self.jobs[count:]:
            if job.target.is_valid():
                self.image.remove_layer(job.target)
        self.image.undo_enable()
        Gimp.displays_flush()

    def discard(self) -> None:
        """Cancel or a failure: no new image is left."""
        if self.display is not None and self.display.is_valid():
            self.display.delete()  # the image's last display: the image goes with it
        if self.image.is_valid():
            self.image.delete()
        Gimp.displays_flush()


def looks_like_animation(image, drawables) -> bool:
    """Whether the selected layers are named as an animation's frames (the dialog then checks frames mode)."""
    layers = [d for d in drawables if isinstance(d, Gimp.Layer)]
    try:
        ordered = sorted(layers, key=image.get_item_position, reverse=True)
    except Exception:  # a layer that went away meanwhile: no guess
        return False
    return looks_like_frames([layer.get_name() for layer in ordered])
