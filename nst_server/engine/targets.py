"""Style targets: the feature statistics a result must match, computed once and cached.

Statistics are sums over positions, so a style image of any size is measured in
tiles (each with a margin that is cropped away, so tile borders do not count) and
the sums are added up: memory stays bounded.  Targets are cached by the style's
content hash and size, so a second request with the same style skips them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from nst_server.engine import losses

STATS_TILE = 1024  # px: forward passes only, so larger than the optimization tiles
STATS_MARGIN = 96  # px of context around each tile, cropped from its features (block1-4 exact, measured)


def content_hash(image: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(image, np.float32).tobytes(), digest_size=16).hexdigest()


def _tiled_features(extractor: Any, image: np.ndarray) -> Iterator[list[tf.Tensor]]:
    """Per tile of ``image`` (with STATS_MARGIN of context, cropped away), each style layer's features as (n, C)."""
    h, w = image.shape[:2]
    step = STATS_TILE - 2 * STATS_MARGIN
    for y0 in range(0, h, step):
        for x0 in range(0, w, step):
            inner = (y0, x0, min(h, y0 + step), min(w, x0 + step))
            outer = (max(0, y0 - STATS_MARGIN), max(0, x0 - STATS_MARGIN),
                     min(h, inner[2] + STATS_MARGIN), min(w, inner[3] + STATS_MARGIN))
            patch = image[outer[0]:outer[2], outer[1]:outer[3]]
            flats = []
            for f in extractor(tf.constant(patch[None], tf.float32))[0]:
                f = f[0]
                sy, sx = patch.shape[0] / f.shape[0], patch.shape[1] / f.shape[1]  # the layer's stride
                crop = f[round((inner[0] - outer[0]) / sy):round((inner[2] - outer[0]) / sy),
                         round((inner[1] - outer[1]) / sx):round((inner[3] - outer[1]) / sx)]
                flats.append(tf.reshape(crop, (-1, crop.shape[-1])))
            yield flats


def _feature_sums(extractor: Any, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Per style layer: (sum of features, sum of outer products, positions), over the whole image."""
    totals: list[tuple[np.ndarray, np.ndarray, int]] | None = None
    for flats in _tiled_features(extractor, image):
        sums = [(tf.reduce_sum(flat, 0).numpy().astype(np.float64),
                 tf.linalg.matmul(flat, flat, transpose_a=True).numpy().astype(np.float64), int(flat.shape[0]))
                for flat in flats]
        totals = sums if totals is None else [(a + s1, b + s2, n + m) for (a, b, n), (s1, s2, m)
                                              in zip(totals, sums, strict=True)]
    assert totals is not None
    return totals


def style_statistics(extractor: Any, image: np.ndarray, kind: str) -> list[Any]:
    """Per style layer, a Gram matrix (1, C, C) or a (mean (1, C), covariance (1, C, C)) pair, float32."""
    if image.shape[0] * image.shape[1] <= STATS_TILE * STATS_TILE:  # one pass: exact, and the common case
        feats = extractor(tf.constant(image[None], tf.float32))[0]
        return [losses.gram_matrix(f) if kind == "gram" else losses.mean_covariance(f) for f in feats]
    stats = []
    for total, outer, n in _feature_sums(extractor, image):
        if kind == "gram":
            stats.append(tf.constant((outer / n)[None], tf.float32))
        else:
            mean = total / n
            stats.append((tf.constant(mean[None], tf.float32),
                          tf.constant((outer / n - np.outer(mean, mean))[None], tf.float32)))
    return stats


class StyleTargetCache:
    """Least recently used style statistics, keyed by (extractor, loss kind, style content, size)."""

    def __init__(self, capacity: int = 48) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple, list[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, extractor: Any, kind: str, style: np.ndarray, style_key: str, size: int,
            resize: Any) -> list[Any]:
        """The statistics of ``style`` scaled to long side ``size`` (``resize(style, size)`` on a miss)."""
        key = (id(extractor), kind, style_key, size)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        stats = style_statistics(extractor, resize(style, size), kind)
        with self._lock:
            self.misses += 1
            self._entries[key] = stats
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return stats

