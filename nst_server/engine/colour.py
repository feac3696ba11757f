"""Colour handling for 'preserve colours': luminance-only transfer and colour matching."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# ITU-R BT.601 luma and the YIQ chroma axes (Gatys et al. 2017 use YIQ for luminance-only transfer).
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


def luma(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) BT.601 luma."""
    return (image @ _RGB_TO_YIQ[0]).astype(np.float32)


def luminance(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W, 3) grey image carrying only the luminance."""
    y = luma(image)
    return np.repeat(y[..., None], 3, axis=-1).astype(np.float32)


def with_chroma_of(luma_source: np.ndarray, chroma_source: np.ndarray) -> np.ndarray:
    """Luminance of the first image, chroma (I, Q) of the second; both (H, W, 3) RGB of one size."""
    y = luma_source @ _RGB_TO_YIQ[0]
    iq = chroma_source @ _RGB_TO_YIQ[1:].T
    yiq = np.concatenate([y[..., None], iq], axis=-1)
    return np.clip(yiq @ _YIQ_TO_RGB.T, 0.0, 1.0).astype(np.float32)


def palette(images: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Colour mean (3,) and covariance (3, 3) of (H, W, 3) images blended by weight, as if their pixels were pooled
    (accumulated in bands: a full-size photo in 'match' mode makes no float64 copy)."""
    total = sum(w for _, w in images)
    mean, second = np.zeros(3), np.zeros((3, 3))
    for image, w in images:
        count, sums, outer = _sums(image.reshape(-1, 3))
        mean += w * sums / count / total
        second += w * outer / count / total
    return mean, second - np.outer(mean, mean)


def _sqrtm(m: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Symmetric square root (or its inverse) of a symmetric positive semi-definite matrix."""
    vals, vecs = np.linalg.eigh(m)
    vals = np.clip(vals, 1e-8, None) ** (-0.5 if inverse else 0.5)
    return (vecs * vals) @ vecs.T


RECOLOUR_BAND_PIXELS = 1 << 20  # pixels recoloured at a time: float64 copies of a whole 12 MP layer cost ~1 GB


def _bands(pixels: np.ndarray) -> range:
    return range(0, len(pixels), RECOLOUR_BAND_PIXELS)


def _sums(pixels: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Count, sum (3,) and sum of outer products (3, 3) of (N, 3) pixels, accumulated band by band in float64."""
    total, outer = np.zeros(3), np.zeros((3, 3))
    for start in _bands(pixels):
        band = pixels[start:start + RECOLOUR_BAND_PIXELS].astype(np.float64)
        total += band.sum(0)
        outer += band.T @ band
    return len(pixels), total, outer


def _moments(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (3,) and sample covariance (3, 3) of (N, 3) pixels."""
    count, total, outer = _sums(pixels)
    mean = total / count
    # One pixel has no spread (n - 1 = 0): its covariance is 0, not NaN.
    cov = (outer - count * np.outer(mean, mean)) / (count - 1) if count > 1 else np.zeros((3, 3))
    return mean, cov


def recolour_map(source: np.ndarray, mean: np.ndarray, cov: np.ndarray,
                 amount: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """The colour map that ``recolour`` applies to ``source``, fixed, to apply to other images too (an animation's
    previous photo is seen through its frame's map: the photos' change is then the run's, however sized)."""
    mu_s, cov_s = _moments(source.reshape(-1, 3))
    # Map through the symmetric square roots: x -> cov^1/2 cov_s^-1/2 (x - mu_s) + mean.
    transform = _sqrtm(cov + 1e-5 * np.eye(3)) @ _sqrtm(cov_s + 1e-5 * np.eye(3), inverse=True)

    def apply(image: np.ndarray) -> np.ndarray:
        """``image`` (..., 3) mapped, as float32; in bands, so a large layer costs one float32 copy."""
        pixels = image.reshape(-1, 3)
        out = np.empty(pixels.shape, np.float32)
        for start in _bands(pixels):
            band = pixels[start:start + RECOLOUR_BAND_PIXELS].astype(np.float64)
            mapped = np.clip((band - mu_s) @ transform.T + mean, 0.0, 1.0)
            out[start:start + RECOLOUR_BAND_PIXELS] = (1 - amount) * band + amount * mapped
        return out.reshape(image.shape)

    return apply


def recolour(source: np.ndarray, mean: np.ndarray, cov: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """``source`` blended by ``amount`` toward itself recoloured so that its colour mean and covariance become
    ``mean`` and ``cov`` (a linear map); computed in bands, so a large layer costs one float32 copy."""
    return recolour_map(source, mean, cov, amount)(source)


def samples(image: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """(count, 3) float32 pixels of ``image`` drawn at random (the same for the same seed), or all when fewer."""
    pixels = image.reshape(-1, 3)
    if len(pixels) <= count:
        return pixels.astype(np.float32)
    return pixels[np.random.default_rng(seed).choice(len(pixels), count, replace=False)].astype(np.float32)


def palette_noise(shape: tuple[int, ...], mean: np.ndarray, cov: np.ndarray, seed: int) -> np.ndarray:
    """Gaussian noise of ``shape`` (..., 3) whose colours have this mean and covariance (not clipped)."""
    return np.random.default_rng(seed).standard_normal(shape) @ _sqrtm(cov).T + mean


def match_colours(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Recolour ``source`` so that its colour mean and covariance match ``reference``'s (linear map)."""
    return recolour(source, *palette([(reference, 1.0)]))
