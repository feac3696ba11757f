"""The engine on real TensorFlow: loss terms, the seed method's optimization, progress and cancel."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst_server.client.params import StyleParams
from nst_server.engine import colour, losses
from nst_server.engine.engine import METHODS, Cancelled, resize_long_side
from tests.conftest import load_rgb


@pytest.fixture(scope="module")
def content():
    return load_rgb("chelsea.png", 64)


@pytest.fixture(scope="module")
def style():
    return load_rgb("starry_night.jpg", 64)


def test_gram_matrix_matches_numpy():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(1, 5, 7, 3)).astype(np.float32)
    flat = feats.reshape(35, 3)
    expected = flat.T @ flat / 35
    np.testing.assert_allclose(losses.gram_matrix(tf.constant(feats))[0].numpy(), expected, rtol=1e-5)


def test_losses_vanish_at_their_targets_and_grow_away_from_them():
    a = tf.random.stateless_normal((1, 4, 4, 8), seed=(1, 2))
    b = a + 0.5
    assert float(losses.style_loss([a], [a], 1.0)) == 0.0
    assert float(losses.content_loss([a], [b], 2.0)) == pytest.approx(2 * 0.25)
    flat = tf.zeros((1, 4, 4, 3))
    stripes = tf.tile(tf.constant([[0.0], [1.0]]), [2, 4])[None, :, :, None] * tf.ones((1, 1, 1, 3))
    assert float(losses.total_variation_loss(flat, 30.0)) == 0.0
    # 3 row boundaries x 4 columns x 3 channels, each a step of 1.
    assert float(losses.total_variation_loss(stripes, 1.0)) == pytest.approx(36.0)


def test_the_colour_distance_is_the_sorted_sliced_distance_and_its_descent_takes_on_the_paintings_colours(
        content, style):
    """The histogram-ranked distance equals the sorted one (to the bins' resolution), and following its gradient
    alone carries the photo's colours onto the painting's distribution, far beyond a mean and covariance."""
    directions = tf.math.l2_normalize(tf.random.stateless_normal((3, 8), seed=(3, 4)), axis=0)
    image, painting = tf.constant(content[None]), tf.constant(style.reshape(-1, 3))
    ours = np.sort(content.reshape(-1, 3) @ directions.numpy(), axis=0)
    theirs = np.sort(style.reshape(-1, 3) @ directions.numpy(), axis=0)
    ranks = ((np.arange(len(ours)) + 0.5) * len(theirs) / len(ours)).astype(int)
    sorted_distance = float(np.mean((ours - theirs[ranks]) ** 2))
    start = float(losses.sliced_colour_distance(image, painting, directions))
    assert start == pytest.approx(sorted_distance, rel=0.05)
    x = tf.Variable(image)
    for step in range(60):
        turn = tf.math.l2_normalize(tf.random.stateless_normal((3, 8), seed=(step, 5)), axis=0)
        with tf.GradientTape() as tape:
            loss = losses.sliced_colour_distance(x, painting, turn)
        # A step of half the gradient's scale; summed over 8 directions it moves ~1.3x the way to the aim (converges).
        x.assign(x - 0.5 * len(content.reshape(-1, 3)) * 8 / 2 * tape.gradient(loss, x))
    descended = float(losses.sliced_colour_distance(x, painting, directions))
    linear = colour.recolour(content, *colour.palette([(style, 1.0)]))  # the painting's mean and covariance only
    matched = float(losses.sliced_colour_distance(tf.constant(linear[None]), painting, directions))
    print(f"sliced colour distance: photo {start:.4f}, mean and covariance matched {matched:.4f}, descended "
          f"{descended:.4f}")
    assert descended < 0.05 * start and descended < 0.5 * matched


def test_one_optimization_step_lowers_the_seed_objective(trained_engine, content, style):
    seed = METHODS["seed"]
    extractor = trained_engine.extractor("vgg16", seed.style_layers, seed.content_layers)
    loss_fn = seed.objective(extractor, tf.constant(style[None]), tf.constant(content[None]))
    before = float(loss_fn(tf.constant(content[None])))
    after_one = seed.run(extractor, content, style, steps=1, progress=lambda p: None)
    assert float(loss_fn(tf.constant(after_one[None]))) < before


def test_stylize_reports_every_step_and_the_loss_falls(trained_engine, content, style):
    seen = []
    result = trained_engine.stylize(content, style, StyleParams(method="seed", backbone="vgg16", size=64, steps=60),
                                    progress=seen.append)
    assert [p.step for p in seen] == list(range(1, 61)) and all(p.total == 60 for p in seen)
    assert seen[-1].loss < 0.97 * seen[0].loss
    assert result.shape == resize_long_side(content, 64).shape
    assert result.min() >= 0.0 and result.max() <= 1.0
    assert np.abs(result - resize_long_side(content, 64)).mean() > 1e-3  # the picture changed


def test_same_seed_gives_the_same_pixels(engine, content, style):
    a = engine.stylize(content, style, StyleParams(size=48, steps=6, seed=5))
    b = engine.stylize(content, style, StyleParams(size=48, steps=6, seed=5))
    np.testing.assert_array_equal(a, b)


def test_cancel_from_the_progress_callback_stops_the_seed_run(engine, content, style):
    calls = []

    def progress(p):
        calls.append(p.step)
        if p.step == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        engine.stylize(content, style, StyleParams(method="seed", size=32, steps=50), progress=progress)
    assert calls == [1, 2]


def test_bad_image_shapes_are_named(engine, style):
    with pytest.raises(ValueError, match="content image must be"):
        engine.stylize(np.zeros((8, 8), np.float32), style, StyleParams(size=32, steps=1))
