"""Tiles, cached style targets, no retracing and Stop: the engine's behaviour on large and repeated work."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from nst_server.client import schedule
from nst_server.client.params import StyleParams
from nst_server.engine import targets, tiles
from nst_server.engine.features import resize_long_side, resize_to_shape
from nst_server.engine.methods import METHODS
from nst_server.engine.progress import FinishNow
from nst_server.engine.steps import compiled_steps
from tests.conftest import load_rgb

IMAGE_SIDE = 256  # the content and starry fixtures (conftest.py)


@pytest.mark.parametrize("shape", [(4096, 4096), (3000, 4096), (1100, 900), (700, 500), (1025, 1025)])
def test_tiles_cover_the_image_and_overlap_enough(shape):
    h, w = shape
    layout = schedule.layout(h, w, 1024, 128)
    covered = np.zeros(shape, bool)
    for t in layout:
        assert 0 <= t.y0 < t.y1 <= h and 0 <= t.x0 < t.x1 <= w
        assert t.shape == (min(h, 1024), min(w, 1024))  # every tile full size: the network sees as much context
        covered[t.slices] = True
    assert covered.all()
    for axis in (0, 1):
        starts = sorted({(t.y0, t.x0)[axis] for t in layout})
        assert all(b - a <= 1024 - 128 for a, b in zip(starts, starts[1:], strict=False))


def test_feathered_blend_has_no_step_where_tiles_meet():
    """Two tiles of different flat values: the canvas goes from one to the other smoothly."""
    canvas = np.zeros((64, 200, 3), np.float32)
    layout = schedule.layout(64, 200, 128, 32)
    for value, tile in zip((0.2, 0.8), layout, strict=True):
        tiles.blend(canvas, tile, np.full((*tile.shape, 3), value, np.float32), 32)
    row = canvas[10, :, 0]
    assert row[0] == pytest.approx(0.2) and row[-1] == pytest.approx(0.8)
    assert np.abs(np.diff(row)).max() < 0.6 / 32 * 1.7  # a cosine ramp over the overlap, not a jump


def test_tiled_style_statistics_match_the_whole_image(trained_engine, starry, monkeypatch):
    method = METHODS["multiscale"]
    ex = method.extractor(trained_engine, "vgg16", "float32")
    style = load_rgb("starry_night.jpg", 480)
    whole = targets.style_statistics(ex, style, "meancov")
    monkeypatch.setattr(targets, "STATS_TILE", 240)  # 9 tiles of 144 px, each seen with 48 px of context
    monkeypatch.setattr(targets, "STATS_MARGIN", 48)
    tiled = targets.style_statistics(ex, style, "meancov")
    errors = [(float(tf.norm(m1 - m2) / tf.norm(m1)), float(tf.norm(c1 - c2) / tf.norm(c1)))
              for (m1, c1), (m2, c2) in zip(whole, tiled, strict=True)]
    print("relative error of mean, covariance per layer:", errors)
    assert all(m < 1e-3 and c < 1e-3 for m, c in errors[:4])  # receptive fields inside the margin: exact
    assert errors[4][0] < 0.05 and errors[4][1] < 0.05  # block5 sees past the margin: close


def test_tiled_result_matches_the_untiled_one_and_shows_no_seams(trained_engine, content, starry):
    method = METHODS["multiscale"]
    tiled_method = dataclasses.replace(method, tile_size=128, tile_overlap=32)
    ex = method.extractor(trained_engine, "vgg16", "float32")
    run = dict(style_weight=method.style_weight, style_scale=1.0, progress=lambda p: None)
    untiled = method.optimize(ex, content, [(starry, 1.0)], method.scales(*content.shape[:2], [128, 181], [40, 40]), **run)
    tiled = tiled_method.optimize(ex, content, [(starry, 1.0)],
                                  tiled_method.scales(*content.shape[:2], [128, 181], [40, 40]), **run)
    assert tiled.shape == untiled.shape == (121, 181, 3)
    layout = schedule.layout(121, 181, 128, 32)
    assert len(layout) == 2  # the finest scale really was tiled
    seam = layout[1].x0  # the second tile's ramp: columns seam .. seam+32
    away = np.r_[0:seam - 8, seam + 40:181]
    change = np.abs(untiled - resize_to_shape(content, untiled.shape[:2])).mean()
    difference = np.abs(tiled - untiled)[:, away].mean()
    print(f"mean change by stylizing {change:.4f}; tiled against untiled, away from the seam {difference:.4f}")
    assert difference < 0.5 * change
    # Sharpness: the mean jump between neighbouring columns, in the seam's band and elsewhere.
    jumps = np.abs(np.diff(tiled, axis=1)).mean(axis=(0, 2))
    band, rest = jumps[seam - 4:seam + 36].mean(), np.delete(jumps, np.s_[seam - 4:seam + 36]).mean()
    print(f"column jumps: seam band {band:.4f}, elsewhere {rest:.4f}")
    assert band <= 1.15 * rest


def test_second_request_reuses_style_targets_and_traces_nothing(trained_engine, content, starry):
    fast = {"backbone": "vgg16", "size": 96, "steps": 6, "precision": "float32"}
    trained_engine.stylize(content, starry, StyleParams(**fast))
    method = METHODS["multiscale"]
    ex = method.extractor(trained_engine, "vgg16", "float32")
    step = compiled_steps(ex, method.style_loss, 1, colour=method.colour_weight > 0).adam_step  # the run's own
    traces, hits, misses = (step.experimental_get_tracing_count(), trained_engine.style_targets.hits,
                            trained_engine.style_targets.misses)
    assert traces > 0  # the steps the run used, not a fresh set
    # Same style, another content size (and so other scales' sizes for the content).
    trained_engine.stylize(resize_long_side(content, 200)[:150], starry, StyleParams(**fast))
    assert step.experimental_get_tracing_count() == traces
    assert trained_engine.style_targets.misses == misses and trained_engine.style_targets.hits > hits


def test_finish_now_returns_the_image_so_far_at_full_size(trained_engine, content, starry):
    def stop_at_five(p):
        if p.step == 5:
            raise FinishNow()

    seen = []
    result = trained_engine.stylize(content, starry, StyleParams(backbone="vgg16", size=100, steps=200, precision="float32"),
                                    progress=lambda p: (seen.append(p.step), stop_at_five(p)))
    assert seen[-1] == 5
    assert result.shape == resize_long_side(content, 100).shape
    assert np.abs(result - resize_to_shape(content, result.shape[:2])).mean() > 0.002
