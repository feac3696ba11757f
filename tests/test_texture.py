"""Texture scales (issue 17): above the structure size only the network's first blocks run, and the result gains
brush texture at the scale of its own pixels instead of being an enlarged smaller run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from nst_server.client import schedule
from nst_server.engine.colour import luma
from nst_server.engine.enlarge import enlarge
from nst_server.engine.features import resize_to_shape
from nst_server.engine.methods import METHODS
from tests.conftest import load_rgb, shared_image

COARSE, FINE = 128, 256


@pytest.fixture(scope="module")
def content():
    return load_rgb("coffee.png", FINE)


@pytest.fixture(scope="module")
def starry():
    return load_rgb("starry_night.jpg", 512)


def fine_detail(image: np.ndarray, coarse_shape: tuple[int, int]) -> float:
    """Mean luminance change (in 1/255) when the image goes through ``coarse_shape`` and back: what a smaller image
    cannot hold."""
    round_trip = resize_to_shape(resize_to_shape(image, coarse_shape), image.shape[:2])
    return float(np.abs(luma(image) - luma(round_trip)).mean() * 255)


def test_a_texture_scale_paints_detail_an_enlarged_result_lacks(trained_engine, content, starry):
    method = METHODS["multiscale"]
    whole = method.extractor(trained_engine, "vgg16", "float32")
    texture = method.texture_extractor(trained_engine, "vgg16", "float32")
    structure = method.scales(*content.shape[:2], [COARSE], [30])
    fine_shape = content.shape[:2]
    texture_scale = schedule.Scale(FINE, fine_shape, 20, schedule.layout(*fine_shape, schedule.TEXTURE_TILE_SIZE,
                                                                         schedule.TEXTURE_TILE_OVERLAP), texture=True)
    losses: list[tuple[int, float]] = []
    run = dict(style_weight=method.style_weight, style_scale=1.0)
    coarse = method.optimize(whole, content, [(starry, 1.0)], structure, progress=lambda p: None, **run)
    painted = method.optimize(whole, content, [(starry, 1.0)], [*structure, texture_scale],
                              progress=lambda p: losses.append((p.step, p.loss)), texture_extractor=texture, **run)
    enlarged = enlarge(coarse, content)
    assert painted.shape == enlarged.shape == content.shape
    coarse_shape = coarse.shape[:2]
    detail_painted, detail_enlarged = fine_detail(painted, coarse_shape), fine_detail(enlarged, coarse_shape)
    detail_photo = fine_detail(content, coarse_shape)
    print(f"fine detail (1/255): texture scale {detail_painted:.2f}, enlarged {detail_enlarged:.2f}, "
          f"photo {detail_photo:.2f}")
    # More than the enlarged result's (the photo's own detail added back): 1.42x when measured.  It was 1.5x before
    # texture.STYLE_BLUR, when part of it was the woven grid the test below holds off.
    assert detail_painted > 1.3 * detail_enlarged and detail_painted > detail_photo
    # The texture scale's own loss fell, and it refined the coarse result rather than starting another: shrunk
    # back, it is nearer the coarse result than the photo is (with 30 coarse steps the texture scale still adds
    # style at the coarse size too: 0.084 against 0.139 when measured).
    texture_losses = [loss for step, loss in losses if step > 30]
    assert texture_losses[-1] < 0.9 * texture_losses[0]
    drift = float(np.abs(resize_to_shape(painted, coarse_shape) - coarse).mean())
    change = float(np.abs(resize_to_shape(content, coarse_shape) - coarse).mean())
    print(f"shrunk back, the texture scale's result differs from the coarse one by {drift:.3f}; stylizing moved the "
          f"photo by {change:.3f}")
    assert drift < 0.8 * change


def test_texture_scales_see_the_painting_at_its_own_resolution_never_smaller_than_the_structure_did():
    method = METHODS["multiscale"]
    big, tiny = np.zeros((1200, 1600, 3), np.float32), np.zeros((12, 20, 3), np.float32)

    def side(size: int, style: np.ndarray, style_scale: float = 1.0) -> int:
        scale = schedule.Scale(size, (size * 3 // 4, size), 1, [], texture=True)
        return method._style_side(scale, style, style_scale)

    assert side(1024, big) == 1024 and side(2048, big) == 1600  # no enlarged copy of the painting
    assert side(2048, tiny) == schedule.STRUCTURE_SIZE  # as large as the finest whole-network scale saw it
    assert side(2048, big, 0.5) == 1024 and side(4096, tiny, 0.5) == schedule.STRUCTURE_SIZE // 2


def test_a_texture_scale_without_its_network_is_refused(trained_engine, content, starry):
    method = METHODS["multiscale"]
    whole = method.extractor(trained_engine, "vgg16", "float32")
    scale = schedule.Scale(FINE, content.shape[:2], 2, [schedule.Tile(0, 0, *content.shape[:2])], texture=True)
    with pytest.raises(ValueError, match="texture extractor"):
        method.optimize(whole, content, [(starry, 1.0)], [scale], method.style_weight, 1.0, lambda p: None)


def axis_aligned_share(image: np.ndarray) -> float:
    """How much of an image's finest detail runs horizontally or vertically: the gradient-energy-weighted mean of
    cos^2(2 theta) over the detail finer than a 2 px blur (1: all along the axes, as a woven grid; 0.5: any angle)."""
    y = luma(image)
    y = y - gaussian_filter(y, 2.0)
    gx, gy = y[1:-1, 2:] - y[1:-1, :-2], y[2:, 1:-1] - y[:-2, 1:-1]
    energy = gx**2 + gy**2
    return float(((gx**2 - gy**2) ** 2 / np.maximum(energy, 1e-12)).sum() / energy.sum())


def test_texture_scales_paint_strokes_not_the_painting_files_pixel_grid(trained_engine):
    """At 100% the texture scales wove a grid of short horizontal and vertical strokes over the whole layer when they
    took the painting at its file's own pixels (a quality-75 JPEG); seen through texture.STYLE_BLUR they do not."""
    with Image.open(shared_image("starry_night.jpg")) as img:  # the file's own pixels, as texture scales see them
        painting = np.asarray(img.convert("RGB"), np.float32)[:256, :384] / 255.0
    content = load_rgb("coffee.png", 384)
    shape = content.shape[:2]
    shares = {}
    for blur in (0.0, METHODS["multiscale"].texture_style_blur):
        method = replace(METHODS["multiscale"], texture_style_blur=blur)
        scales = [*method.scales(*shape, [192], [30]),
                  schedule.Scale(384, shape, 20, schedule.layout(*shape, schedule.TEXTURE_TILE_SIZE,
                                                                 schedule.TEXTURE_TILE_OVERLAP, even=True), texture=True)]
        result = method.optimize(method.extractor(trained_engine, "vgg16", "float32"), content, [(painting, 1.0)],
                                 scales, method.style_weight, 1.0, lambda p: None,
                                 texture_extractor=method.texture_extractor(trained_engine, "vgg16", "float32"))
        shares[blur] = axis_aligned_share(result)
    print(f"finest detail along the axes: {shares} (painting {axis_aligned_share(painting):.3f}, "
          f"photo {axis_aligned_share(content):.3f})")
    unblurred, blurred = shares.values()
    assert blurred < unblurred - 0.02
