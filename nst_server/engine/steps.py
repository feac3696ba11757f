"""The default method's compiled steps: objective, gradient and Adam update as one graph.

Everything that changes between requests or scales (the image, the optimizer's
moments, the targets, the weights, the learning rate) is an argument with
unknown height and width, so each function is traced once per network, style
loss and number of styles, and then serves every size without retracing.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from nst_server.engine import losses

BETA_1, BETA_2 = 0.9, 0.999
KINDS = ("gram", "meancov")
COLOUR_DIRECTIONS = 8  # random directions per step of the colour term's sliced distance


def _spec(*shape: int | None) -> tf.TensorSpec:
    return tf.TensorSpec(shape, tf.float32)


class CompiledSteps:
    """``adam_step``, ``loss_and_grad`` and ``features`` for one extractor, loss kind and style count."""

    def __init__(self, extractor: Any, kind: str, n_styles: int, jitter: int = 0, colour: bool = False,
                 temporal: bool = False) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown style loss {kind!r}; choose one of {', '.join(KINDS)}")
        if jitter and not all(name.startswith("block1_") for name in extractor.content_layers):
            raise ValueError("jitter needs content layers before the first pooling (their features shift with the image)")
        self.extractor, self.kind, self.n_styles, self.jitter = extractor, kind, n_styles, jitter
        self.colour, self.temporal = colour, temporal
        style_channels, content_channels = extractor.style_channels, extractor.content_channels
        image = _spec(1, None, None, 3)
        content = [_spec(1, None, None, c) for c in content_channels]
        per_style = ([_spec(1, c, c) for c in style_channels] if kind == "gram"
                     else [(_spec(1, c), _spec(1, c, c)) for c in style_channels])
        # Weights per style and layer (column 0: mean, 1: covariance or Gram), per content layer, and of total variation.
        targets = [content, [per_style] * n_styles, _spec(n_styles, len(style_channels), 2), _spec(len(content_channels)),
                   _spec()]
        if colour:  # each style's colours (M, 3) and the weight of the sliced colour distance to them
            targets += [[_spec(None, 3)] * n_styles, _spec(n_styles)]
        if temporal:  # an animation's previous frame carried here (temporal.Guide), how much each pixel keeps it, weight,
            # and how much faster than the step's rate a pixel not held at all moves (its rate: rate * (1 + release))
            targets += [_spec(1, None, None, 3), _spec(1, None, None, 1), _spec(), _spec()]
        # phase: the step's number, which sets its jitter (steps of one number see the image shifted alike)
        self.loss_and_grad = tf.function(self._loss_and_grad, input_signature=[image, _spec(), *targets])
        self.adam_step = tf.function(self._adam_step, input_signature=[image, image, image, _spec(), _spec(), _spec(), *targets])
        self.features = tf.function(lambda x: extractor(x), input_signature=[image])

    def loss(self, image: tf.Tensor, phase: tf.Tensor, content_targets: list, style_targets: list,
             style_weights: tf.Tensor, content_weights: tf.Tensor, tv_weight: tf.Tensor, *extra: Any) -> tf.Tensor:
        """Weighted style terms (one per style image) + content + total variation (+ each style's colour distance,
        + the temporal term), ``extra`` holding the optional terms' inputs in that order.

        With ``jitter``, each step (its ``phase``) sees the image shifted by a few pixels, wrapping around: the
        pooling grid then falls on other pixels at every step, so no grid-aligned pattern is rewarded (issue 16's
        'grid'); the content targets, before any pooling, shift with it."""
        if self.jitter:
            shift = tf.random.stateless_uniform((2,), (tf.cast(phase, tf.int32), 16), 0, self.jitter, tf.int32)
            image_seen = tf.roll(image, shift, axis=(1, 2))
            content_targets = [tf.roll(t, shift, axis=(1, 2)) for t in content_targets]
        else:
            image_seen = image
        style_feats, content_feats = self.extractor(image_seen)
        if self.kind == "gram":
            stats = [losses.gram_matrix(f) for f in style_feats]
            terms = [losses.weighted_gram_loss(stats, t, style_weights[i]) for i, t in enumerate(style_targets)]
        else:
            stats = [losses.mean_covariance(f) for f in style_feats]
            terms = [losses.weighted_mean_covariance_loss(stats, t, style_weights[i]) for i, t in enumerate(style_targets)]
        content = tf.add_n([content_weights[i] * losses.mean_squared_error(f, t)
                            for i, (f, t) in enumerate(zip(content_feats, content_targets, strict=True))])
        if self.colour:
            colour_targets, colour_weights, *extra = extra
            directions = tf.random.stateless_normal((3, COLOUR_DIRECTIONS), (tf.cast(phase, tf.int32), 17))
            directions = directions / tf.norm(directions, axis=0, keepdims=True)
            terms += [colour_weights[i] * losses.sliced_colour_distance(image, t, directions)
                      for i, t in enumerate(colour_targets)]
        if self.temporal:  # on the image itself, unshifted: it is held pixel by pixel to the previous frame's
            guide, mask, temporal_weight, _release = extra
            terms.append(temporal_weight * tf.reduce_mean(mask * tf.square(image - guide)))
        return tf.add_n(terms) + content + losses.total_variation_loss(image, tv_weight)

    def _loss_and_grad(self, image: tf.Tensor, phase: tf.Tensor, *targets: Any) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = self.loss(image, phase, *targets)
        return loss, tape.gradient(loss, image)

    def _adam_step(self, image: tf.Tensor, m: tf.Tensor, v: tf.Tensor, t: tf.Tensor, learning_rate: tf.Tensor,
                   epsilon: tf.Tensor, *targets: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """One Adam step, the image clipped to [0, 1].  Epsilon is relative to the root mean square of the
        gradient over the image: a pixel whose gradient is tiny takes a tiny step (plain Adam would move it a
        full step in whatever direction rounding noise points), and the step is the same whatever the scale
        of the loss or the image's size.  With the temporal term, pixels held less to the previous frame take
        larger steps (a follow-up's gentle rate paints what the previous frame never had too slowly)."""
        loss, grad = self._loss_and_grad(image, t, *targets)
        if self.temporal:
            mask, release = targets[-3], targets[-1]
            learning_rate = learning_rate * (1.0 + release * (1.0 - mask))
        m = BETA_1 * m + (1 - BETA_1) * grad
        v = BETA_2 * v + (1 - BETA_2) * tf.square(grad)
        m_hat, v_hat = m / (1 - BETA_1**t), v / (1 - BETA_2**t)
        denominator = tf.sqrt(v_hat) + epsilon * tf.sqrt(tf.reduce_mean(v_hat))
        image = tf.clip_by_value(image - learning_rate * m_hat / denominator, 0.0, 1.0)
        return image, m, v, loss


def compiled_steps(extractor: Any, kind: str, n_styles: int, jitter: int = 0, colour: bool = False,
                   temporal: bool = False) -> CompiledSteps:
    """The extractor's compiled steps, made on first use and kept with it."""
    key = (kind, n_styles, jitter, colour, temporal)
    if key not in extractor.compiled:
        extractor.compiled[key] = CompiledSteps(extractor, kind, n_styles, jitter, colour, temporal)
    return extractor.compiled[key]
