"""Frames of an animation (issue 20): what a frame keeps of the frame before.

Each frame after the first starts from the previous frame's result carried along the photos' motion, and a
temporal term holds the pixels whose motion is reliable to that carried result (Ruder et al. 2016, "Artistic style
transfer for videos").  The motion is OpenCV's DIS optical flow (no weights to download), computed once per frame on
the photos and resized to each scale.  ``kind="difference"`` is the flow-free alternative the bench measures beside
it: the previous result plus the photos' change, everywhere (Xu et al. 2021's frame-difference idea, per pixel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from nst_server.client.schedule import long_side_shape
from nst_server.engine.features import resize_to_shape

KINDS = ("flow", "difference")
# px, the long sides the flow is computed between: larger frames are shrunk (the finest scale that uses it is
# 512 px; texture scales take it enlarged), smaller ones enlarged, since DIS's 8 px patches and pyramid lose small
# moving objects (a 32 px cat moving 8 px in a 144 px frame: the strip it uncovered was held to the frame before
# at 1x, 0.91 of it; at 4x, 0.43).
FLOW_SIZES = (512, 1024)
# Of the long side: pixels next to what the previous frame never saw (the strip a pan brings in, background an object
# uncovers) are held less, and fully only this far from it, so that new strokes there are painted together with
# their neighbours.  Held right up to it, each frame's new few-pixel strip was painted beside a fixed wall: vertical
# bands, mirror-image bars (bench/flicker.py's pan, 288 px, frame 6; the strip's fine texture 0.76 of the frame's
# middle, an independent frame's 0.73).
HOLD_RAMP = 0.06


def _as_is(image: np.ndarray) -> np.ndarray:
    return image


@dataclass(frozen=True)
class Previous:
    """The frame before: its photo and its stylized result, (h, w, 3) in [0, 1], at the frame's size or shrunk to
    the run's detail (float32, or float16 as jobs.py keeps them: see decode_previous).  ``photo_view`` and
    ``result_view`` say how the run sees them (recoloured toward the painting, or grey); they are applied at the
    size each use needs, never to a full-size copy kept for the whole run."""

    photo: np.ndarray
    result: np.ndarray
    photo_view: Callable[[np.ndarray], np.ndarray] = field(default=_as_is, compare=False)
    result_view: Callable[[np.ndarray], np.ndarray] = field(default=_as_is, compare=False)

    def check(self, photo: np.ndarray) -> None:
        """Raise ValueError unless both images are ``photo``'s shape, or that shape shrunk."""
        for what, image in (("photo", self.photo), ("result", self.result)):
            shrunk = long_side_shape(*photo.shape[:2], min(max(image.shape[:2]), max(photo.shape[:2])))
            if image.shape[2:] != photo.shape[2:] or image.shape[:2] != shrunk:
                raise ValueError(f"the previous frame's {what} is {image.shape[1]}x{image.shape[0]} px, "
                                 f"the frame {photo.shape[1]}x{photo.shape[0]}: frames must have one size")

    def photo_at(self, shape: tuple[int, int]) -> np.ndarray:
        """The previous photo at ``shape``, float32, as the run sees it."""
        return self.photo_view(resize_to_shape(self.photo, shape))

    def result_at(self, shape: tuple[int, int]) -> np.ndarray:
        """The previous result at ``shape``, float32, as the run sees it."""
        return self.result_view(resize_to_shape(self.result, shape))


def gray8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> (H, W) uint8 luma, what DIS flow reads."""
    luma = image[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(luma * 255), 0, 255).astype(np.uint8)


def flow(source: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 displacement (x, y): source(p) is destination(p + flow(p))."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(gray8(source), gray8(destination), None)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    return xs, ys


def warp(image: np.ndarray, displacement: np.ndarray, interpolation: int = cv2.INTER_LANCZOS4) -> np.ndarray:
    """``image`` sampled at p + displacement(p); beyond the border, mirrored (what Lanczos' taps read there; pixels
    whose source lies beyond it are not the previous frame's at all: Motion.start gives them the photo).  Lanczos,
    since a frame's strokes are carried again at every frame: eight half-pixel moves kept 16% of a painting's finest
    detail bilinear, 75% bicubic, 87% Lanczos (measured on Starry Night at 256 px), and bilinear carrying blurred the
    strokes frame by frame."""
    xs, ys = _grid(displacement.shape[:2])
    warped = cv2.remap(np.ascontiguousarray(image, np.float32), xs + displacement[..., 0], ys + displacement[..., 1],
                       interpolation, borderMode=cv2.BORDER_REFLECT_101)
    return warped.reshape(image.shape)


def reliability(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W, 1) in [0, 1]: where the current frame's pixels were seen in the previous frame, by Ruder et al.'s
    tests: the flow there and back must cancel (else the pixel was hidden: disocclusion), it must not change
    sharply (a motion boundary), and it must land inside the frame.  Softened by a 3x3 blur, as theirs."""
    there = warp(forward, backward, cv2.INTER_LINEAR)  # the forward flow where each pixel came from
    cycle = np.sum(np.square(backward + there), axis=-1)
    occluded = cycle >= 0.01 * (np.sum(np.square(backward), -1) + np.sum(np.square(there), -1)) + 0.5
    dy = np.gradient(backward, axis=0)
    dx = np.gradient(backward, axis=1)
    boundary = np.sum(np.square(dx) + np.square(dy), axis=-1) > 0.01 * np.sum(np.square(backward), -1) + 0.002
    mask = (~(occluded | boundary | sourced_outside(backward))).astype(np.float32)
    return cv2.blur(mask, (3, 3))[..., None]


def sourced_outside(displacement: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(H, W) bool: the pixels whose source p + displacement(p) lies more than ``margin`` px beyond the frame."""
    h, w = displacement.shape[:2]
    xs, ys = _grid((h, w))
    xs += displacement[..., 0]
    ys += displacement[..., 1]
    return (xs < -margin) | (ys < -margin) | (xs > w - 1 + margin) | (ys > h - 1 + margin)


def _resize_flow(displacement: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A flow field at another size, its vectors scaled with it."""
    h, w = displacement.shape[:2]
    if (h, w) == tuple(shape):
        return displacement
    resized = cv2.resize(displacement, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return resized * np.array([shape[1] / w, shape[0] / h], np.float32)


def held(reliable: np.ndarray, ramp: float) -> np.ndarray:
    """How much each pixel is held to the previous frame: its reliability, lowered within ``ramp`` px of the
    unreliable pixels (linearly, from none beside them)."""
    distance = cv2.distanceTransform((reliable[..., 0] > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    return reliable * np.clip(distance / max(ramp, 1e-6), 0.0, 1.0)[..., None]


@dataclass(frozen=True)
class Guide:
    """What a scale of a follow-up frame keeps: the previous result carried to this frame (target) and how much
    each pixel is held to it (mask, (h, w, 1))."""

    target: np.ndarray
    mask: np.ndarray


class Motion:
    """The motion between the previous frame and this one, computed once, and each scale's Guide from it."""

    def __init__(self, photo: np.ndarray, previous: Previous, kind: str = "flow") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown temporal kind {kind!r}; choose one of {', '.join(KINDS)}")
        previous.check(photo)
        self.photo, self.previous, self.kind = photo, previous, kind
        self.backward = self.mask = None
        self.coverage = 1.0  # the share of this frame the previous one explains (near 0 at a cut between shots)
        if kind == "flow":
            shape = photo.shape[:2]
            side = min(max(max(shape), FLOW_SIZES[0]), FLOW_SIZES[1])
            if max(previous.photo.shape[:2]) < max(shape):  # shrunk to the run's detail: both photos shrunk alike
                side = min(side, max(previous.photo.shape[:2]))
            shape = long_side_shape(*shape, side)
            current, before = resize_to_shape(photo, shape), previous.photo_at(shape)
            self.backward = flow(current, before)
            reliable = reliability(self.backward, flow(before, current))
            self.coverage = float(reliable.mean())
            self.mask = held(reliable, HOLD_RAMP * max(shape))

    def guide(self, shape: tuple[int, int]) -> Guide:
        result = self.previous.result_at(shape)
        if self.kind == "difference":
            change = resize_to_shape(self.photo, shape) - self.previous.photo_at(shape)
            return Guide(np.clip(result + change, 0.0, 1.0), np.ones((*shape, 1), np.float32))
        assert self.backward is not None and self.mask is not None
        displacement = _resize_flow(self.backward, shape)
        target = warp(result, displacement)
        del result  # a 4096 px layer's scale: each full-size copy is 150 MB
        np.clip(target, 0.0, 1.0, out=target)
        mask = cv2.resize(self.mask, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).reshape(*shape, 1)
        return Guide(target, np.clip(mask, 0.0, 1.0, out=mask))

    def entering(self, shape: tuple[int, int]) -> np.ndarray:
        """(h, w) bool at a scale: the pixels whose source lies beyond the previous frame's border (the strip a pan
        or zoom brings in); none for the difference kind."""
        if self.backward is None:
            return np.zeros(shape, bool)
        return sourced_outside(_resize_flow(self.backward, shape), margin=0.5)

    def start(self, guide: Guide, photo: np.ndarray) -> np.ndarray:
        """A follow-up's starting image at ``guide``'s scale: the carried result, and the photo where the frame
        shows what the previous one never had (its strokes mirrored in from the border, carried frame after frame,
        built mirror-image bars; from the photo, with the full learning rate and a loose hold beside them, they
        are painted anew).  Only the first scale starts so: later ones start from the scale before."""
        return np.where(self.entering(photo.shape[:2])[..., None], photo, guide.target)
