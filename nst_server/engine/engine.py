"""The style transfer engine: one object that owns the feature networks and runs a method.

``StyleTransferEngine.stylize`` takes float RGB images in [0, 1] and a progress
callback; the command line and the server are thin shells around it.  The
networks are built once per backbone and precision and kept warm.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from nst_server.client.params import StyleParams
from nst_server.engine import speed, weights
from nst_server.engine.features import STYLE_LAYERS, FeatureExtractor, resize_long_side, vgg_preprocess
from nst_server.engine.methods import METHODS
from nst_server.engine.progress import Cancelled, FinishNow, Progress, ProgressCallback
from nst_server.engine.targets import StyleTargetCache
from nst_server.engine.temporal import Previous

__all__ = ["METHODS", "STYLE_LAYERS", "Cancelled", "FinishNow", "FeatureExtractor", "Progress", "ProgressCallback",
           "StyleParams", "StyleTransferEngine", "resize_long_side", "vgg_preprocess"]


class StyleTransferEngine:
    """Owns the backbone networks (built once, on first use) and runs methods on them."""

    def __init__(self, weights_files: dict[str, str] | None = None, deterministic: bool = True) -> None:
        self._weights_files = dict(weights_files or {})
        self._backbones: dict[tuple[str, str], Any] = {}
        self._extractors: dict[tuple, FeatureExtractor] = {}
        self._speeds: dict[str, speed.Speed] = {}
        self.style_targets = StyleTargetCache()  # a second request with the same style skips its statistics
        if deterministic:
            # Same input, same seed, same machine -> same pixels.
            tf.config.experimental.enable_op_determinism()

    def weights_path(self, name: str):
        explicit = self._weights_files.get(name)
        try:
            return weights.find_weights(name, explicit)
        except weights.WeightsMissing:
            if explicit or os.environ.get(weights.KERAS_WEIGHTS[name].env_var):
                raise
            return weights.download_weights(name)  # once; cached for later runs

    def backbone(self, name: str, precision: str = "float32", pooling: str = "max") -> Any:
        """The trained backbone; raises weights.WeightsMissing when its weights cannot be found."""
        key = (name, precision, pooling)
        if key not in self._backbones:
            import keras

            path = self.weights_path(name)
            policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
            keras.config.set_dtype_policy(policy)
            try:
                self._backbones[key] = weights.load_backbone(name, path, pooling)
            finally:
                keras.config.set_dtype_policy("float32")
        return self._backbones[key]

    def measured_speed(self, backbone: str = "vgg19") -> speed.Speed:
        """This machine's measured speed in each precision (cached with the server after the first time)."""
        if backbone not in self._speeds:
            self._speeds[backbone] = speed.load_or_measure(self, backbone)
        return self._speeds[backbone]

    def extractor(self, backbone: str, style_layers: Sequence[str], content_layers: Sequence[str],
                  precision: str = "float32", pooling: str = "max") -> FeatureExtractor:
        """Features of the chosen layers; precision 'auto' is the one measured faster on this machine."""
        precision = self.measured_speed(backbone).precision if precision == "auto" else precision
        key = (backbone, tuple(style_layers), tuple(content_layers), precision, pooling)
        if key not in self._extractors:
            self._extractors[key] = FeatureExtractor(self.backbone(backbone, precision, pooling), style_layers,
                                                     content_layers)
        return self._extractors[key]

    def stylize(
        self,
        content: np.ndarray,
        style: np.ndarray | Sequence[np.ndarray],
        params: StyleParams = StyleParams(),
        *,
        style_weights: Sequence[float] | None = None,
        progress: ProgressCallback | None = None,
        previous: Previous | None = None,
    ) -> np.ndarray:
        """Stylize ``content`` (H, W, 3 float in [0, 1]) after one style image or several, as ``params`` say.

        The result's long side is ``params.size``.  ``progress`` is called after
        every step and may raise Cancelled (the run is abandoned) or FinishNow
        (the image reached so far is returned).  ``previous``: the animation frame before this one (its photo and
        result, at the content's size): this frame then starts from that result carried along the motion and keeps it
        where the motion is reliable (multiscale only).
        """
        styles = [style] if isinstance(style, np.ndarray) else list(style)
        blend = list(style_weights) if style_weights is not None else [1.0] * len(styles)
        if not styles or len(blend) != len(styles) or min(blend) < 0 or sum(blend) <= 0:
            raise ValueError("give one or more style images with non-negative weights that do not all vanish")
        for what, image in (("content", content), *(("style", s) for s in styles)):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"{what} image must be (height, width, 3), got {image.shape}")
        tf.random.set_seed(params.seed)
        np.random.seed(params.seed)
        if previous is not None:
            if params.method != "multiscale":
                raise ValueError("a previous frame (frames mode) needs method 'multiscale'")
            return METHODS[params.method].stylize(self, content, list(zip(styles, blend, strict=True)), params,
                                                  progress or (lambda _p: None), previous=previous)
        return METHODS[params.method].stylize(self, content, list(zip(styles, blend, strict=True)), params,
                                              progress or (lambda _p: None))
