"""The seed method: the TensorFlow tutorial's algorithm, unchanged, the baseline every benchmark compares against."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from nst_server.client.params import StyleParams
from nst_server.engine import losses
from nst_server.engine.features import STYLE_LAYERS, FeatureNetworks, resize_long_side
from nst_server.engine.progress import FinishNow, Progress, ProgressCallback


@dataclass(frozen=True)
class SeedMethod:
    """The TensorFlow tutorial's algorithm, unchanged: the baseline all others are measured against.

    Gram matrices on block1..5_conv1, content at block5_conv2, Adam on raw
    pixels starting from the content image, pixels clipped to [0, 1].  It uses
    the first style only and ignores the artist's controls.
    """

    name: str = "seed"
    content_layers: tuple[str, ...] = ("block5_conv2",)
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_weight: float = 1e-2
    content_weight: float = 1e4
    tv_weight: float = 30.0
    learning_rate: float = 0.02
    beta_1: float = 0.99
    epsilon: float = 0.1
    default_steps: int = 1000

    def objective(self, extractor: Any, style: tf.Tensor, content: tf.Tensor) -> Callable[[tf.Tensor], tf.Tensor]:
        """The loss function of an image, with the targets of this style and content fixed."""
        style_targets = [losses.gram_matrix(f) for f in extractor(style)[0]]
        content_targets = extractor(content)[1]

        def loss_fn(image: tf.Tensor) -> tf.Tensor:
            style_feats, content_feats = extractor(image)
            grams = [losses.gram_matrix(f) for f in style_feats]
            return (
                losses.style_loss(grams, style_targets, self.style_weight)
                + losses.content_loss(content_feats, content_targets, self.content_weight)
                + losses.total_variation_loss(image, self.tv_weight)
            )

        return loss_fn

    def run(self, extractor: Any, content: np.ndarray, style: np.ndarray, steps: int, progress: ProgressCallback) -> np.ndarray:
        content_t = tf.constant(content[None], tf.float32)
        loss_fn = self.objective(extractor, tf.constant(style[None], tf.float32), content_t)
        image = tf.Variable(content_t)
        optimizer = tf.keras.optimizers.Adam(learning_rate=self.learning_rate, beta_1=self.beta_1, epsilon=self.epsilon)

        @tf.function
        def train_step() -> tf.Tensor:
            with tf.GradientTape() as tape:
                loss = loss_fn(image)
            grad = tape.gradient(loss, image)
            optimizer.apply_gradients([(grad, image)])
            image.assign(tf.clip_by_value(image, 0.0, 1.0))
            return loss

        start = time.perf_counter()
        for step in range(1, steps + 1):
            loss = float(train_step())
            try:
                progress(Progress(step, steps, loss, time.perf_counter() - start, lambda: image[0].numpy()))
            except FinishNow:
                break
        return image[0].numpy()

    def stylize(self, engine: FeatureNetworks, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                params: StyleParams, progress: ProgressCallback) -> np.ndarray:
        extractor = engine.extractor(params.backbone, self.style_layers, self.content_layers, "float32")
        return self.run(extractor, resize_long_side(content, params.size), resize_long_side(styles[0][0], params.size),
                        params.steps or self.default_steps, progress)
