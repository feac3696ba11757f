"""Optimization methods: the seed (the TensorFlow tutorial's) and the default multiscale one.

A method turns a content image and weighted style images into a stylized image,
calling ``progress`` after every step.  Both work on float RGB in [0, 1].
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from nst_server import colour, losses
from nst_server.features import resize_long_side, resize_to_shape
from nst_server.progress import Progress, ProgressCallback

if TYPE_CHECKING:
    from nst_server.engine import StyleTransferEngine

STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


@dataclass(frozen=True)
class Settings:
    """Everything a caller can set, already validated (protocol.validate_params)."""

    backbone: str = "vgg19"
    size: int = 512
    steps: int = 0  # 0: the method's own default (the preset's budget, or 1000 for seed)
    seed: int = 0
    strength: int = 50  # 0-100: style against content, on a log scale
    preserve_colors: str = "off"  # off | luminance | match
    style_scale: float = 1.0  # style image size relative to the content's
    preset: str = "balanced"  # preview | balanced | high
    precision: str = "auto"  # auto | float32 | bfloat16

    @property
    def strength_factor(self) -> float:
        """Multiplier of the style weight: x1 at 50, x100 at 100, x0.01 at 0 (equal steps look equal)."""
        return 10.0 ** ((self.strength - 50) / 25.0)


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
            progress(Progress(step, steps, loss, time.perf_counter() - start, lambda: image[0].numpy()))
        return image[0].numpy()

    def stylize(self, engine: StyleTransferEngine, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                settings: Settings, progress: ProgressCallback) -> np.ndarray:
        extractor = engine.extractor(settings.backbone, self.style_layers, self.content_layers, "float32")
        return self.run(extractor, resize_long_side(content, settings.size), resize_long_side(styles[0][0], settings.size),
                        settings.steps or self.default_steps, progress)


@dataclass(frozen=True)
class Preset:
    """Adam steps per scale, finest first (coarser scales repeat the last entry), and the finest
    scale as a fraction of the requested size (the rest is upsampled)."""

    steps: tuple[int, ...]
    finest_fraction: float = 1.0


# Tuned with the race in bench/compare.py: coarse steps are cheap (half the pixels per sqrt(2))
# and settle the large structure, so the finest scale needs fewer steps than a single-scale run.
PRESETS: dict[str, Preset] = {
    "preview": Preset((40, 60), finest_fraction=0.5),
    "balanced": Preset((150, 150)),
    "high": Preset((300, 200)),
}
COARSEST = 128  # px, long side of the first scale
SCALE_FACTOR = math.sqrt(2)


def scale_sizes(size: int) -> list[int]:
    """Long sides from COARSEST up to ``size`` in steps of sqrt(2), coarse to fine."""
    sizes = [size]
    while sizes[-1] / SCALE_FACTOR >= COARSEST:
        sizes.append(round(sizes[-1] / SCALE_FACTOR))
    return sizes[::-1]


class _StopScale(Exception):
    pass


@dataclass(frozen=True)
class MultiscaleMethod:
    """The default: coarse-to-fine over an image pyramid, L-BFGS-B with the [0, 1] box as bounds,
    reduced precision for the network where the hardware has it, early stop on convergence.

    Losses: mean and covariance matching on block1..5_conv1 (steadier than Gram
    matrices) and content at block4_conv2 (keeps finer detail than block5_conv2).
    Total variation at 1 instead of the seed's 30: at 30 it smooths away the brush
    strokes (compared side by side on the shared images).
    """

    name: str = "multiscale"
    content_layers: tuple[str, ...] = ("block4_conv2",)
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_loss: str = "meancov"  # or "gram"
    style_weight: float = 0.3
    content_weight: float = 1e3
    tv_weight: float = 1.0
    converged_rel: float = 2e-4  # stop a scale when 5 iterations gained less than this, relatively
    optimizer: str = "adam"  # or "lbfgs"
    learning_rate: float = 0.025  # Adam, decayed to a tenth over each scale (cosine)

    def _targets(self, extractor: Any, image: np.ndarray):
        feats = extractor(tf.constant(image[None], tf.float32))[0]
        if self.style_loss == "gram":
            return [losses.gram_matrix(f) for f in feats]
        return [losses.mean_covariance(f) for f in feats]

    def objective(self, extractor: Any, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                  style_weight: float) -> Callable[[tf.Tensor], tf.Tensor]:
        style_targets = [(self._targets(extractor, s), w) for s, w in styles]
        content_targets = extractor(tf.constant(content[None], tf.float32))[1]
        total_weight = sum(w for _, w in styles)

        def loss_fn(image: tf.Tensor) -> tf.Tensor:
            style_feats, content_feats = extractor(image)
            if self.style_loss == "gram":
                stats = [losses.gram_matrix(f) for f in style_feats]
                terms = [losses.style_loss(stats, t, style_weight * w / total_weight) for t, w in style_targets]
            else:
                stats = [losses.mean_covariance(f) for f in style_feats]
                terms = [losses.mean_covariance_style_loss(stats, t, style_weight * w / total_weight)
                         for t, w in style_targets]
            return (tf.add_n(terms) + losses.content_loss(content_feats, content_targets, self.content_weight)
                    + losses.total_variation_loss(image, self.tv_weight))

        return loss_fn

    def iterations(self, settings: Settings, n_scales: int) -> list[int]:
        """Iterations per scale, coarse to fine; ``steps`` overrides the preset's total."""
        budget = list(PRESETS[settings.preset].steps)
        per_scale = [budget[min(i, len(budget) - 1)] for i in range(n_scales)][::-1]
        if settings.steps:
            total = sum(per_scale)
            per_scale = [max(1, round(n * settings.steps / total)) for n in per_scale]
        return per_scale

    def stylize(self, engine: StyleTransferEngine, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                settings: Settings, progress: ProgressCallback) -> np.ndarray:
        original = content
        if settings.preserve_colors == "luminance":
            content = colour.luminance(content)
            styles = [(colour.luminance(s), w) for s, w in styles]
        elif settings.preserve_colors == "match":
            styles = [(colour.match_colours(s, content), w) for s, w in styles]
        extractor = engine.extractor(settings.backbone, self.style_layers, self.content_layers, settings.precision)
        finest = max(32, round(settings.size * PRESETS[settings.preset].finest_fraction))
        sizes = scale_sizes(finest)
        result = self.optimize(extractor, content, styles, sizes, self.iterations(settings, len(sizes)),
                               self.style_weight * settings.strength_factor, settings.style_scale, progress)
        if finest != settings.size:
            result = resize_to_shape(result, resize_long_side(content, settings.size).shape[:2])
        if settings.preserve_colors == "luminance":
            result = colour.with_chroma_of(result, resize_to_shape(original, result.shape[:2]))
        return result

    def optimize(self, extractor: Any, content: np.ndarray, styles: list[tuple[np.ndarray, float]], sizes: list[int],
                 iterations: list[int], style_weight: float, style_scale: float,
                 progress: ProgressCallback, objective: Callable | None = None) -> np.ndarray:
        """Coarse to fine; at each scale L-BFGS-B from the previous scale's result, upsampled.

        ``objective(content_k)`` replaces this method's own loss (the bench races the
        seed's objective with this machinery).
        """
        total, done, start = sum(iterations), 0, time.perf_counter()
        image: np.ndarray | None = None
        for size, budget in zip(sizes, iterations, strict=True):
            content_k = resize_long_side(content, size)
            image = content_k if image is None else resize_to_shape(image, content_k.shape[:2])
            styles_k = [(resize_long_side(s, max(16, round(size * style_scale))), w) for s, w in styles]
            loss_fn = objective(content_k) if objective else self.objective(extractor, content_k, styles_k, style_weight)

            def report(step: int, loss: float, current: Callable, offset: int = done) -> None:
                progress(Progress(offset + step, total, loss, time.perf_counter() - start, current))

            step_fn = self._lbfgs if self.optimizer == "lbfgs" else self._adam
            image = step_fn(loss_fn, image, budget, report)
            done += budget
        assert image is not None
        return image

    def _adam(self, loss_fn: Callable, image: np.ndarray, budget: int, report: Callable) -> np.ndarray:
        """At most ``budget`` Adam steps with a cosine-decayed rate, clipped to [0, 1]; stops early once converged."""
        x = tf.Variable(image[None])
        schedule = tf.keras.optimizers.schedules.CosineDecay(self.learning_rate, max(1, budget), alpha=0.1)
        optimizer = tf.keras.optimizers.Adam(learning_rate=schedule, beta_1=0.9, epsilon=0.1)

        @tf.function(reduce_retracing=True)
        def step() -> tf.Tensor:
            with tf.GradientTape() as tape:
                loss = loss_fn(x)
            optimizer.apply_gradients([(tape.gradient(loss, x), x)])
            x.assign(tf.clip_by_value(x, 0.0, 1.0))
            return loss

        best, best_at = float("inf"), 0
        for i in range(1, budget + 1):
            loss = float(step())
            report(i, loss, lambda: x[0].numpy())
            if loss < best * (1 - self.converged_rel):
                best, best_at = loss, i
            elif self.converged_rel > 0 and i > budget * 0.3 and i - best_at >= 20:
                break  # 20 steps without real progress, past the upsampling transient: converged
        return x[0].numpy()

    def _lbfgs(self, loss_fn: Callable, image: np.ndarray, budget: int, report: Callable) -> np.ndarray:
        """At most ``budget`` L-BFGS-B iterations inside the [0, 1] box; stops early once converged."""
        import scipy.optimize

        shape = (1, *image.shape)

        @tf.function(reduce_retracing=True)
        def loss_and_grad(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = loss_fn(x)
            return loss, tape.gradient(loss, x)

        def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grad = loss_and_grad(tf.constant(flat.reshape(shape), tf.float32))
            return float(loss), grad.numpy().ravel().astype(np.float64)

        history: list[float] = []
        best = {"x": image.ravel().astype(np.float64)}

        def callback(intermediate_result: Any) -> None:  # scipy passes an OptimizeResult by this name
            best["x"] = intermediate_result.x
            history.append(float(intermediate_result.fun))
            report(len(history), history[-1], lambda: np.clip(best["x"].reshape(image.shape), 0.0, 1.0))
            if len(history) > 5 and history[-6] - history[-1] < self.converged_rel * abs(history[-6]):
                raise _StopScale()

        try:
            scipy.optimize.minimize(fun, best["x"], jac=True, method="L-BFGS-B", bounds=scipy.optimize.Bounds(0.0, 1.0),
                                    callback=callback, options={"maxiter": budget, "maxcor": 20})
        except _StopScale:
            pass
        return np.clip(best["x"].reshape(image.shape), 0.0, 1.0).astype(np.float32)


METHODS: dict[str, Any] = {"multiscale": MultiscaleMethod(), "seed": SeedMethod()}
