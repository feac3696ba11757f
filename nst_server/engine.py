"""The style transfer engine: one object that owns the feature networks and runs a method.

``StyleTransferEngine.stylize`` takes float RGB images in [0, 1] and a progress
callback; the command line and the server are thin shells around it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from nst_server import losses, weights

# Caffe-style VGG input: BGR, 0-255, ImageNet mean removed.
_VGG_MEAN_BGR = tf.constant([103.939, 116.779, 123.68], dtype=tf.float32)

STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


class Cancelled(Exception):
    """Raised by a progress callback to stop a run."""


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    loss: float
    elapsed: float


ProgressCallback = Callable[[Progress], None]


def vgg_preprocess(image: tf.Tensor) -> tf.Tensor:
    """[0, 1] RGB -> the input the Keras VGG weights were trained on."""
    return image[..., ::-1] * 255.0 - _VGG_MEAN_BGR


def resize_long_side(image: np.ndarray, size: int) -> np.ndarray:
    """Scale (H, W, C) so that its longer side is ``size`` pixels, keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    new_hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new_hw == (h, w):
        return image.astype(np.float32)
    resized = tf.image.resize(image[None].astype(np.float32), new_hw, method="bilinear", antialias=True)
    return np.clip(resized[0].numpy(), 0.0, 1.0)


class FeatureExtractor:
    """Activations of chosen backbone layers for a [0, 1] RGB batch."""

    def __init__(self, backbone: Any, style_layers: Sequence[str], content_layers: Sequence[str]) -> None:
        import keras

        outputs = [backbone.get_layer(name).output for name in (*style_layers, *content_layers)]
        self.model = keras.Model(backbone.inputs, outputs)
        self.model.trainable = False
        self.num_style = len(style_layers)

    def __call__(self, image: tf.Tensor) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
        outputs = self.model(vgg_preprocess(image))
        return list(outputs[: self.num_style]), list(outputs[self.num_style :])


@dataclass(frozen=True)
class SeedMethod:
    """The TensorFlow tutorial's algorithm, unchanged: the baseline all others are measured against.

    Gram matrices on block1..5_conv1, content at block5_conv2, Adam on raw
    pixels starting from the content image, pixels clipped to [0, 1].
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

    def objective(self, extractor: FeatureExtractor, style: tf.Tensor, content: tf.Tensor):
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

    def run(
        self,
        extractor: FeatureExtractor,
        content: np.ndarray,
        style: np.ndarray,
        steps: int,
        progress: ProgressCallback,
    ) -> np.ndarray:
        content_t = tf.constant(content[None], tf.float32)
        loss_fn = self.objective(extractor, tf.constant(style[None], tf.float32), content_t)
        image = tf.Variable(content_t)
        optimizer = tf.keras.optimizers.Adam(
            learning_rate=self.learning_rate, beta_1=self.beta_1, epsilon=self.epsilon
        )

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
            progress(Progress(step, steps, loss, time.perf_counter() - start))
        return image[0].numpy()


METHODS: dict[str, Any] = {"seed": SeedMethod()}


class StyleTransferEngine:
    """Owns the backbone networks (built once, on first use) and runs methods on them."""

    def __init__(self, weights_files: dict[str, str] | None = None, deterministic: bool = True) -> None:
        self._weights_files = dict(weights_files or {})
        self._backbones: dict[str, Any] = {}
        self._extractors: dict[tuple, FeatureExtractor] = {}
        if deterministic:
            # Same input, same seed, same machine -> same pixels.
            tf.config.experimental.enable_op_determinism()

    def backbone(self, name: str) -> Any:
        """The trained backbone; raises weights.WeightsMissing when its weights cannot be found."""
        if name not in self._backbones:
            explicit = self._weights_files.get(name)
            try:
                path = weights.find_weights(name, explicit)
            except weights.WeightsMissing:
                if explicit or os.environ.get(weights.KERAS_WEIGHTS[name].env_var):
                    raise
                path = weights.download_weights(name)  # once; cached for later runs
            self._backbones[name] = weights.load_backbone(name, path)
        return self._backbones[name]

    def extractor(self, backbone: str, style_layers: Sequence[str], content_layers: Sequence[str]) -> FeatureExtractor:
        key = (backbone, tuple(style_layers), tuple(content_layers))
        if key not in self._extractors:
            self._extractors[key] = FeatureExtractor(self.backbone(backbone), style_layers, content_layers)
        return self._extractors[key]

    def stylize(
        self,
        content: np.ndarray,
        style: np.ndarray,
        *,
        method: str = "seed",
        backbone: str = "vgg19",
        size: int = 512,
        steps: int = 100,
        seed: int = 0,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Stylize ``content`` (H, W, 3 float in [0, 1]) after ``style``.

        Both images are scaled so their long side is ``size``; the result has the
        scaled content's shape.  ``progress`` is called after every step and may
        raise Cancelled.
        """
        for what, image in (("content", content), ("style", style)):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"{what} image must be (height, width, 3), got {image.shape}")
        algorithm = METHODS[method]
        tf.random.set_seed(seed)
        np.random.seed(seed)
        extractor = self.extractor(backbone, algorithm.style_layers, algorithm.content_layers)
        return algorithm.run(
            extractor,
            resize_long_side(content, size),
            resize_long_side(style, size),
            steps,
            progress or (lambda _p: None),
        )
