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


def rms(statistics: tuple[tf.Tensor, tf.Tensor] | tf.Tensor) -> float:
    """Root mean square activation of a layer, from its Gram matrix or its (mean, covariance) pair."""
    if isinstance(statistics, tuple):
        mean, cov = statistics
        second_moment = tf.reduce_mean(tf.square(mean)) + tf.reduce_mean(tf.linalg.diag_part(cov))
    else:
        second_moment = tf.reduce_mean(tf.linalg.diag_part(statistics))
    return float(tf.sqrt(tf.maximum(second_moment, 1e-30)))
