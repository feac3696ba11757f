"""The work plan of a run: structure on the whole network up to 512 px, texture on the first blocks above it."""

from __future__ import annotations

import numpy as np
import pytest

from nst_server.client import schedule

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run


def test_up_to_the_structure_size_every_scale_runs_the_whole_network():
    scales = schedule.plan(383, 512, 512, "balanced")
    assert [s.size for s in scales] == [181, 256, 362, 512]
    assert not any(s.texture for s in scales)


@pytest.mark.parametrize(("size", "texture"), [(600, [600]), (1024, [1024]), (2048, [1024, 2048]),
                                               (2400, [600, 1200, 2400]), (4096, [1024, 2048, 4096])])
def test_above_it_texture_scales_halve_down_from_the_detail(size, texture):
    scales = schedule.plan(3 * size // 4, size, size, "balanced")
    assert [s.size for s in scales if s.texture] == texture
    assert [s.size for s in scales if not s.texture][-1] == schedule.STRUCTURE_SIZE
    assert scales[-1].shape == (3 * size // 4, size) and scales[-1].texture
    assert all(s.steps == schedule.PRESETS["balanced"].texture_steps for s in scales if s.texture)


def test_large_texture_scales_are_tiled_and_the_work_is_split_by_kind():
    scales = schedule.plan(3072, 4096, 4096, "balanced")
    assert len(scales[-1].tiles) > 1 and all(t.shape[0] <= schedule.TEXTURE_TILE_SIZE for t in scales[-1].tiles)
    whole, texture = schedule.megapixel_steps(scales, texture=False), schedule.megapixel_steps(scales, texture=True)
    assert whole + texture == pytest.approx(schedule.megapixel_steps(scales))
    assert texture > whole  # most pixels are texture pixels; the estimate prices each kind at its own speed


def test_steps_set_the_total_over_both_kinds():
    scales = schedule.plan(1536, 2048, 2048, "balanced", steps=300)
    assert sum(s.steps for s in scales) == pytest.approx(300, abs=len(scales))


@pytest.mark.parametrize("shape", [(1280, 2048), (2560, 4096), (1800, 2400), (1089, 1089), (3072, 4096), (700, 5000)])
def test_texture_tiles_are_as_short_as_their_count_allows_and_still_overlap(shape):
    h, w = shape
    tile, overlap = schedule.TEXTURE_TILE_SIZE, schedule.TEXTURE_TILE_OVERLAP
    even, full = schedule.layout(h, w, tile, overlap, even=True), schedule.layout(h, w, tile, overlap)
    assert len(even) == len(full)
    covered = np.zeros(shape, bool)
    for t in even:
        assert t.shape[0] <= tile and t.shape[1] <= tile
        covered[t.slices] = True
    assert covered.all()
    for axis in (0, 1):  # neighbours overlap by at least the overlap the blend needs
        spans = sorted({((t.y0, t.y1), (t.x0, t.x1))[axis] for t in even})
        assert all(a[1] - b[0] >= overlap for a, b in zip(spans, spans[1:], strict=False))
    pixels = sum(t.shape[0] * t.shape[1] for t in even)
    assert pixels <= sum(t.shape[0] * t.shape[1] for t in full)
    assert pixels <= 1.3 * h * w  # tiles small enough for memory (schedule.TEXTURE_TILE_SIZE) overlap more
