"""VGG features of images, and the image resizing the methods share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import tensorflow as tf

from nst_server.client.schedule import long_side_shape

if TYPE_CHECKING:
    from nst_server.engine.targets import StyleTargetCache

STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")

# Caffe-style VGG input: BGR, 0-255, ImageNet mean removed.
_VGG_MEAN_BGR = tf.constant([103.939, 116.779, 123.68], dtype=tf.float32)


def vgg_preprocess(image: tf.Tensor) -> tf.Tensor:
    """[0, 1] RGB -> the input the Keras VGG weights were trained on."""
    return image[..., ::-1] * 255.0 - _VGG_MEAN_BGR


class FeatureExtractor:
    """Activations of chosen backbone layers for a [0, 1] RGB batch, always returned as float32."""

    def __init__(self, backbone: Any, style_layers: Sequence[str], content_layers: Sequence[str]) -> None:
        import keras

        self.style_layers, self.content_layers = tuple(style_layers), tuple(content_layers)
        self.model = keras.Model(backbone.inputs, [backbone.get_layer(name).output for name in (*style_layers, *content_layers)])
        self.model.trainable = False
        self.style_channels = [int(backbone.get_layer(name).output.shape[-1]) for name in style_layers]
        self.content_channels = [int(backbone.get_layer(name).output.shape[-1]) for name in content_layers]
        self.compiled: dict[tuple, Any] = {}  # steps.compiled_steps: traced functions, kept with the network

    def __call__(self, image: tf.Tensor) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
        # Gram matrices and losses stay in float32 even when the network runs in bfloat16.
        raw = self.model(vgg_preprocess(image))
        outputs = [tf.cast(o, tf.float32) for o in (raw if isinstance(raw, (list, tuple)) else [raw])]
        return outputs[: len(self.style_layers)], outputs[len(self.style_layers):]


def resize_to_shape(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, C) float to (h, w): antialiased bilinear down, bicubic up; clipped to [0, 1]."""
    if tuple(image.shape[:2]) == tuple(hw):
        return image.astype(np.float32)
    down = hw[0] * hw[1] < image.shape[0] * image.shape[1]
    # No float32 copy of a float32 image: a 12-megapixel layer's is 150 MB, made at each scale.
    resized = tf.image.resize(image[None].astype(np.float32, copy=False), hw, method="bilinear" if down else "bicubic",
                              antialias=down)
    return np.clip(resized[0].numpy(), 0.0, 1.0)


def resize_long_side(image: np.ndarray, size: int) -> np.ndarray:
    """Scale (H, W, C) so that its longer side is ``size`` pixels, keeping the aspect ratio."""
    return resize_to_shape(image, long_side_shape(*image.shape[:2], size))


class FeatureNetworks(Protocol):
    """What a method needs of the engine (engine.StyleTransferEngine): its networks, warm, and a style cache."""

    style_targets: StyleTargetCache

    def extractor(self, backbone: str, style_layers: Sequence[str], content_layers: Sequence[str],
                  precision: str = "float32", pooling: str = "max") -> FeatureExtractor: ...
