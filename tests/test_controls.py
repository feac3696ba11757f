"""The artist's controls on the default method, with trained features and real TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst_server.client import schedule
from nst_server.client.params import StyleParams
from nst_server.engine import losses
from nst_server.engine.features import resize_long_side, resize_to_shape
from nst_server.engine.methods import METHODS
from nst_server.engine.progress import Cancelled

SIZE = 64
FAST = {"backbone": "vgg16", "size": SIZE, "steps": 40, "precision": "float32"}


def style_and_content_loss(engine, image, content, style):
    """Unweighted style (mean/covariance) and content losses of ``image``, as the default method sees them."""
    method = METHODS["multiscale"]
    ex = method.extractor(engine, "vgg16", "float32")
    image = resize_to_shape(image, resize_long_side(content, SIZE).shape[:2])
    c = resize_long_side(content, SIZE)
    s = resize_long_side(style, SIZE)
    style_feats, content_feats = ex(tf.constant(image[None]))
    targets = [losses.mean_covariance(f) for f in ex(tf.constant(s[None]))[0]]
    stats = [losses.mean_covariance(f) for f in style_feats]
    equal = tf.fill((len(stats), 2), 1.0 / len(stats))  # every layer, mean and covariance alike
    style_loss = float(losses.weighted_mean_covariance_loss(stats, targets, equal))
    content_loss = float(losses.content_loss(content_feats, ex(tf.constant(c[None]))[1], 1.0))
    return style_loss, content_loss


def test_strength_trades_content_for_style_monotonically(trained_engine, content, starry):
    """Up to 50 the slider weighs style against content; above it the style statistics are already met, so
    the result leaves the photo further instead, up to nearly pure texture at 100."""
    measured, moved = [], []
    photo = resize_long_side(content, SIZE)
    for strength in (0, 25, 50, 75, 100):
        result = trained_engine.stylize(content, starry, StyleParams(strength=strength, **FAST))
        measured.append(style_and_content_loss(trained_engine, result, content, starry))
        moved.append(float(np.abs(result - photo).mean() * 255))
    style_losses = [s for s, _ in measured]
    content_losses = [c for _, c in measured]
    print("strength 0/25/50/75/100: style", style_losses, "content", content_losses, "moved /255", moved)
    assert style_losses[0] > style_losses[1] > style_losses[2]
    assert max(style_losses[3:]) < style_losses[1]  # the upper half keeps the style it reached
    assert content_losses == sorted(content_losses) and len(set(content_losses)) == 5
    assert content_losses[4] > 2 * content_losses[2]  # 100: far from the photo, not more of the same
    assert moved == sorted(moved)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> CIE L*a*b* (D65), to measure chroma as people see it."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def chroma_error(result: np.ndarray, content: np.ndarray) -> float:
    reference = resize_to_shape(content, result.shape[:2])
    return float(np.abs(srgb_to_lab(result)[..., 1:] - srgb_to_lab(reference)[..., 1:]).mean())


def test_preserved_colours_keep_the_contents_chroma(trained_engine, content, starry):
    styled = trained_engine.stylize(content, starry, StyleParams(strength=80, **FAST))
    luminance = trained_engine.stylize(content, starry, StyleParams(strength=80, preserve_colors="luminance", **FAST))
    matched = trained_engine.stylize(content, starry, StyleParams(strength=80, preserve_colors="match", **FAST))
    errors = {name: chroma_error(img, content) for name, img in
              (("off", styled), ("luminance", luminance), ("match", matched))}
    print("mean a*b* error against the content:", errors)
    assert errors["luminance"] < 0.5 * errors["off"]
    assert errors["match"] < errors["off"]
    # Luminance-only transfer still changes the picture: the style's strokes are in the lightness.
    lightness = srgb_to_lab(luminance)[..., 0] - srgb_to_lab(resize_to_shape(content, luminance.shape[:2]))[..., 0]
    assert np.abs(lightness).mean() > 1.0


def test_blend_weights_move_the_result_toward_the_heavier_style(trained_engine, content, starry, matisse):
    mostly_starry = trained_engine.stylize(content, [starry, matisse], StyleParams(strength=80, **FAST), style_weights=[4, 1])
    mostly_matisse = trained_engine.stylize(content, [starry, matisse], StyleParams(strength=80, **FAST), style_weights=[1, 4])
    to_starry = [style_and_content_loss(trained_engine, r, content, starry)[0] for r in (mostly_starry, mostly_matisse)]
    to_matisse = [style_and_content_loss(trained_engine, r, content, matisse)[0] for r in (mostly_starry, mostly_matisse)]
    assert to_starry[0] < to_starry[1]
    assert to_matisse[1] < to_matisse[0]


def test_style_scale_changes_the_result_and_keeps_its_size(trained_engine, content, starry):
    small = trained_engine.stylize(content, starry, StyleParams(style_scale=0.5, **FAST))
    large = trained_engine.stylize(content, starry, StyleParams(style_scale=2.0, **FAST))
    assert small.shape == large.shape == resize_long_side(content, SIZE).shape
    assert np.abs(small - large).mean() > 0.01


def test_same_seed_same_pixels_on_the_default_method(trained_engine, content, starry):
    a = trained_engine.stylize(content, starry, StyleParams(seed=3, **FAST))
    b = trained_engine.stylize(content, starry, StyleParams(seed=3, **FAST))
    np.testing.assert_array_equal(a, b)


def test_bfloat16_reaches_the_float32_objective_within_ten_percent(trained_engine, content, starry):
    method = METHODS["multiscale"]
    ex = method.extractor(trained_engine, "vgg16", "float32")
    c, s = resize_long_side(content, SIZE), resize_long_side(starry, SIZE)
    objective = method.objective(ex, c, [(s, 1.0)], method.style_weight)
    values = {}
    for precision in ("float32", "bfloat16"):
        result = trained_engine.stylize(content, starry, StyleParams(**{**FAST, "precision": precision}))
        values[precision] = float(objective(tf.constant(result[None])))
    start = float(objective(tf.constant(c[None])))
    print("objective from", start, "to", values)
    assert values["float32"] < 0.8 * start and values["bfloat16"] < 0.8 * start
    assert abs(values["bfloat16"] - values["float32"]) <= 0.10 * values["float32"]


def test_cancel_returns_within_one_step_of_the_default_method(trained_engine, content, starry):
    steps = []

    def progress(p):
        steps.append(p.step)
        if p.step == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        trained_engine.stylize(content, starry, StyleParams(**{**FAST, "steps": 500}), progress=progress)
    assert steps == [1, 2, 3]


def test_presets_order_the_work():
    sizes = [128, 181, 256]
    totals = {p: sum(schedule.iterations(p, sizes)) for p in ("preview", "balanced", "high")}
    assert totals["preview"] < totals["balanced"] < totals["high"]
    assert sum(schedule.iterations("balanced", sizes, steps=90)) == pytest.approx(90, abs=2)


def off_palette_share(image: np.ndarray, *palette_sources: np.ndarray, threshold: float = 0.12) -> float:
    """Share of ``image``'s pixels farther than ``threshold`` (RGB) from every colour of 48-colour k-means palettes
    of the sources: colours that none of them has."""
    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(0)
    palette = np.concatenate([kmeans2(s.reshape(-1, 3).astype(np.float64), 48, seed=rng, minit="++")[0]
                              for s in palette_sources])
    pixels = image.reshape(-1, 3)
    nearest = np.min(np.linalg.norm(pixels[:, None, :] - palette[None], axis=-1), axis=1)
    return float(np.mean(nearest > threshold))


def test_colours_the_run_invents_cost_it_so_they_stay_in_the_paintings_palette(trained_engine, content, starry,
                                                                               monkeypatch):
    """Issue 16: the colour term (a sliced distance between the result's colours and the painting's, in the
    objective) keeps the result in the painting's palette: without it the run invents colours neither the painting
    nor the photo has.  The picture is the same picture; preserve colours still keeps the photo's."""
    import dataclasses

    from nst_server.engine import methods

    with_term = trained_engine.stylize(content, starry, StyleParams(**FAST))
    monkeypatch.setitem(methods.METHODS, "multiscale", dataclasses.replace(METHODS["multiscale"], colour_weight=0.0))
    without = trained_engine.stylize(content, starry, StyleParams(**FAST))
    monkeypatch.undo()
    photo = resize_long_side(content, SIZE)
    before, after = off_palette_share(without, starry, photo), off_palette_share(with_term, starry, photo)
    print(f"off-palette share without the colour term {before:.3f}, with it {after:.3f}")
    assert after < 0.7 * before
    # The same picture: as near the photo's content, and as near the painting's statistics, as without the term.
    (style_with, content_with), (style_without, content_without) = (
        style_and_content_loss(trained_engine, r, content, starry) for r in (with_term, without))
    print(f"style {style_without:.0f} -> {style_with:.0f}, content {content_without:.2f} -> {content_with:.2f}")
    assert content_with < 1.25 * content_without and style_with < 1.25 * style_without
    kept = trained_engine.stylize(content, starry, StyleParams(preserve_colors="luminance", **FAST))
    assert np.abs(kept.mean(axis=(0, 1)) - photo.mean(axis=(0, 1))).max() < 0.05
