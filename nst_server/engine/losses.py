"""Loss terms of neural style transfer, each a small function of tensors."""

from __future__ import annotations

import tensorflow as tf


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Channel correlations of (batch, height, width, channels) features, divided by locations."""
    gram = tf.linalg.einsum("bijc,bijd->bcd", features, features)
    shape = tf.shape(features)
    locations = tf.cast(shape[1] * shape[2], features.dtype)
    return gram / locations


def mean_squared_error(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.square(a - b))


def style_loss(grams: list[tf.Tensor], targets: list[tf.Tensor], weight: float) -> tf.Tensor:
    """Gram-matrix style loss, averaged over layers (the TensorFlow tutorial's form)."""
    terms = [mean_squared_error(g, t) for g, t in zip(grams, targets, strict=True)]
    return tf.add_n(terms) * (weight / len(terms))


def content_loss(features: list[tf.Tensor], targets: list[tf.Tensor], weight: float) -> tf.Tensor:
    terms = [mean_squared_error(f, t) for f, t in zip(features, targets, strict=True)]
    return tf.add_n(terms) * (weight / len(terms))


def total_variation_loss(image: tf.Tensor, weight: float) -> tf.Tensor:
    """Sum of absolute neighbour differences (tf.image.total_variation), summed over the batch."""
    return weight * tf.reduce_sum(tf.image.total_variation(image))


def mean_covariance(features: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Channel means (batch, C) and covariances (batch, C, C) of (batch, H, W, C) features."""
    shape = tf.shape(features)
    flat = tf.reshape(features, (shape[0], shape[1] * shape[2], shape[3]))
    mean = tf.reduce_mean(flat, axis=1)
    centred = flat - mean[:, None, :]
    locations = tf.cast(shape[1] * shape[2], features.dtype)
    return mean, tf.linalg.matmul(centred, centred, transpose_a=True) / locations


def weighted_mean_covariance_loss(stats: list[tuple[tf.Tensor, tf.Tensor]], targets: list[tuple[tf.Tensor, tf.Tensor]],
                                  weights: tf.Tensor) -> tf.Tensor:
    """Sum over layers of weights[l, 0] * MSE(mean) + weights[l, 1] * MSE(covariance)."""
    return tf.add_n([weights[i, 0] * mean_squared_error(m, tm) + weights[i, 1] * mean_squared_error(c, tc)
                     for i, ((m, c), (tm, tc)) in enumerate(zip(stats, targets, strict=True))])


def weighted_gram_loss(grams: list[tf.Tensor], targets: list[tf.Tensor], weights: tf.Tensor) -> tf.Tensor:
    """Sum over layers of weights[l, 1] * MSE(Gram matrix) (column 0 is unused: Gram matrices hold the mean)."""
    return tf.add_n([weights[i, 1] * mean_squared_error(g, t) for i, (g, t) in enumerate(zip(grams, targets, strict=True))])


COLOUR_BINS = 256  # histogram bins along each direction, for the ranks of the image's colours


def sliced_colour_distance(image: tf.Tensor, palette: tf.Tensor, directions: tf.Tensor) -> tf.Tensor:
    """Sliced Wasserstein-2 distance (squared) between the pixel colours of a (1, H, W, 3) image and a painting's
    colours (M, 3), along each of ``directions`` (3, K).  Unlike a mean and covariance it holds the whole
    distribution, so colours the painting never had cost something however the run reaches its statistics.

    Each pixel's projection is pulled toward the painting's projection of the same rank (Risser et al. 2017's
    histogram matching, per direction): the rank is read from a histogram of the image's projections, not a sort,
    which on a CPU cost 40% of a step at 512 px (the painting's few samples are sorted).  The histogram is a segment
    sum, whose GPU kernel runs in deterministic mode (tf.math.bincount's refuses it).  Colours that are all equal
    along a direction (a flat layer) take the middle rank: pulled to the painting's median, not its darkest."""
    ours = tf.transpose(tf.reshape(image, (-1, 3)) @ directions)  # (K, N)
    theirs = tf.sort(tf.transpose(palette @ directions), axis=-1)  # (K, M)
    k, n, m = tf.shape(ours)[0], tf.shape(ours)[1], tf.shape(theirs)[1]
    low = tf.reduce_min(ours, axis=1, keepdims=True)
    extent = tf.reduce_max(ours, axis=1, keepdims=True) - low
    span = tf.maximum(extent, 1e-6)
    position = tf.stop_gradient((ours - low) / span * COLOUR_BINS)
    bins = tf.clip_by_value(tf.cast(position, tf.int32), 0, COLOUR_BINS - 1)
    slots = tf.reshape(bins + tf.range(k)[:, None] * COLOUR_BINS, [-1])
    counts = tf.reshape(tf.math.unsorted_segment_sum(tf.ones_like(slots, tf.float32), slots, k * COLOUR_BINS),
                        (k, COLOUR_BINS)) / tf.cast(n, tf.float32)
    below = tf.math.cumsum(counts, axis=1, exclusive=True)
    rank = (tf.gather(below, bins, batch_dims=1)
            + (position - tf.cast(bins, tf.float32)) * tf.gather(counts, bins, batch_dims=1))  # in [0, 1]
    rank = tf.where(extent < 1e-6, 0.5, rank)  # all equal along this direction
    at = tf.clip_by_value(rank * tf.cast(m - 1, tf.float32), 0.0, tf.cast(m - 1, tf.float32))
    first = tf.cast(tf.floor(at), tf.int32)
    second = tf.minimum(first + 1, m - 1)
    share = at - tf.cast(first, tf.float32)
    aim = tf.gather(theirs, first, batch_dims=1) * (1 - share) + tf.gather(theirs, second, batch_dims=1) * share
    return mean_squared_error(ours, tf.stop_gradient(aim))


def rms(statistics: tuple[tf.Tensor, tf.Tensor] | tf.Tensor) -> float:
    """Root mean square activation of a layer, from its Gram matrix or its (mean, covariance) pair."""
    if isinstance(statistics, tuple):
        mean, cov = statistics
        second_moment = tf.reduce_mean(tf.square(mean)) + tf.reduce_mean(tf.linalg.diag_part(cov))
    else:
        second_moment = tf.reduce_mean(tf.linalg.diag_part(statistics))
    return float(tf.sqrt(tf.maximum(second_moment, 1e-30)))
