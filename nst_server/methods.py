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

from nst_server import colour, losses, schedule, tiles
from nst_server.features import resize_long_side, resize_to_shape
from nst_server.progress import FinishNow, Progress, ProgressCallback
from nst_server.steps import CompiledSteps, compiled_steps
from nst_server.targets import StyleTargetCache, content_hash, style_statistics

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
            try:
                progress(Progress(step, steps, loss, time.perf_counter() - start, lambda: image[0].numpy()))
            except FinishNow:
                break
        return image[0].numpy()

    def stylize(self, engine: StyleTransferEngine, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                settings: Settings, progress: ProgressCallback) -> np.ndarray:
        extractor = engine.extractor(settings.backbone, self.style_layers, self.content_layers, "float32")
        return self.run(extractor, resize_long_side(content, settings.size), resize_long_side(styles[0][0], settings.size),
                        settings.steps or self.default_steps, progress)


class _StopScale(Exception):
    pass


@dataclass(frozen=True)
class MultiscaleMethod:
    """The default: coarse-to-fine over an image pyramid, Adam with a cosine-decayed rate at each
    scale (L-BFGS-B as an option), reduced precision for the network where the hardware has it,
    early stop on convergence, and overlapping tiles at scales too large to do at once.

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
    converged_rel: float = 2e-4  # a scale is converged after 20 steps that gained less than this, relatively
    optimizer: str = "adam"  # or "lbfgs"
    learning_rate: float = 0.025  # Adam, decayed to a tenth over each scale (cosine)
    tile_size: int = schedule.TILE_SIZE  # px: larger scales are optimized in overlapping tiles of this size
    tile_overlap: int = schedule.TILE_OVERLAP

    def objective(self, extractor: Any, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                  style_weight: float) -> Callable[[tf.Tensor], tf.Tensor]:
        """This method's loss of a (1, H, W, 3) image at the content's size, untiled (for judging results)."""
        compiled = compiled_steps(extractor, self.style_loss, len(styles))
        total_weight = sum(w for _, w in styles)
        args = (list(compiled.features(tf.constant(content[None]))[1]),
                [style_statistics(extractor, s, self.style_loss) for s, _ in styles],
                tf.constant([style_weight * w / total_weight for _, w in styles], tf.float32),
                tf.constant(self.content_weight, tf.float32), tf.constant(self.tv_weight, tf.float32))
        return lambda image: compiled.loss_and_grad(image, *args)[0]

    def stylize(self, engine: StyleTransferEngine, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                settings: Settings, progress: ProgressCallback) -> np.ndarray:
        original = content
        if settings.preserve_colors == "luminance":
            content = colour.luminance(content)
            styles = [(colour.luminance(s), w) for s, w in styles]
        elif settings.preserve_colors == "match":
            styles = [(colour.match_colours(s, content), w) for s, w in styles]
        extractor = engine.extractor(settings.backbone, self.style_layers, self.content_layers, settings.precision)
        finest = schedule.finest_size(settings.preset, settings.size)
        sizes = schedule.scale_sizes(finest)
        result = self.optimize(extractor, content, styles, sizes, schedule.iterations(settings.preset, sizes, settings.steps),
                               self.style_weight * settings.strength_factor, settings.style_scale, progress,
                               cache=engine.style_targets)
        if finest != settings.size:
            result = resize_to_shape(result, resize_long_side(content, settings.size).shape[:2])
        if settings.preserve_colors == "luminance":
            result = colour.with_chroma_of(result, resize_to_shape(original, result.shape[:2]))
        return result

    def optimize(self, extractor: Any, content: np.ndarray, styles: list[tuple[np.ndarray, float]], sizes: list[int],
                 iterations: list[int], style_weight: float, style_scale: float,
                 progress: ProgressCallback, cache: StyleTargetCache | None = None) -> np.ndarray:
        """Coarse to fine: at each scale, start from the previous scale's result, upsampled.

        A progress callback that raises FinishNow ends the run there: the image reached so
        far, at the finest scale's size, is the result.
        """
        compiled = compiled_steps(extractor, self.style_loss, len(styles))
        cache = cache if cache is not None else StyleTargetCache()
        style_keys = [content_hash(s) for s, _ in styles]
        total_weight = sum(w for _, w in styles)
        weights = (tf.constant([style_weight * w / total_weight for _, w in styles], tf.float32),
                   tf.constant(self.content_weight, tf.float32), tf.constant(self.tv_weight, tf.float32))
        shapes = [schedule.long_side_shape(*content.shape[:2], s) for s in sizes]
        layouts = [schedule.layout(h, w, self.tile_size, self.tile_overlap) for h, w in shapes]
        total = sum(budget * len(lay) for budget, lay in zip(iterations, layouts, strict=True))
        run = self._lbfgs if self.optimizer == "lbfgs" else self._adam
        done, start = 0, time.perf_counter()
        image: np.ndarray | None = None
        try:
            for size, budget, layout in zip(sizes, iterations, layouts, strict=True):
                content_k = resize_long_side(content, size)
                image = content_k.copy() if image is None else resize_to_shape(image, content_k.shape[:2])
                style_targets = [cache.get(extractor, self.style_loss, s, key, max(16, round(size * style_scale)),
                                           resize_long_side) for (s, _), key in zip(styles, style_keys, strict=True)]
                for tile in layout:
                    def report(step: int, loss: float, current: Callable, offset: int = done) -> None:
                        progress(Progress(offset + step, total, loss, time.perf_counter() - start, current))

                    content_targets = compiled.features(tf.constant(content_k[tile.slices][None]))[1]
                    args = (list(content_targets), style_targets, *weights)
                    run(compiled, image, tile, args, budget, report)
                    done += budget
        except FinishNow:
            pass
        assert image is not None
        return resize_to_shape(image, shapes[-1])

    def _preview(self, image: np.ndarray, tile: schedule.Tile, pixels: Callable[[], np.ndarray]) -> Callable:
        def current() -> np.ndarray:
            if tile.shape == image.shape[:2]:
                return pixels()
            copy = image.copy()
            tiles.blend(copy, tile, pixels(), self.tile_overlap)
            return copy
        return current

    def _adam(self, compiled: CompiledSteps, image: np.ndarray, tile: schedule.Tile, args: tuple, budget: int,
              report: Callable) -> None:
        """At most ``budget`` Adam steps on one tile of ``image``, written back into it; stops early once converged."""
        x = tf.constant(image[tile.slices][None])
        m = v = tf.zeros_like(x)
        best, best_at = float("inf"), 0
        try:
            for i in range(1, budget + 1):
                rate = self.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (i - 1) / max(1, budget))))
                x, m, v, loss_t = compiled.adam_step(x, m, v, tf.constant(float(i)), tf.constant(rate), *args)
                loss = float(loss_t)
                report(i, loss, self._preview(image, tile, lambda x=x: x[0].numpy()))
                if loss < best * (1 - self.converged_rel):
                    best, best_at = loss, i
                elif self.converged_rel > 0 and i > budget * 0.3 and i - best_at >= 20:
                    break  # 20 steps without real progress, past the upsampling transient: converged
        finally:  # FinishNow included: the work done so far is kept
            tiles.blend(image, tile, x[0].numpy(), self.tile_overlap)

    def _lbfgs(self, compiled: CompiledSteps, image: np.ndarray, tile: schedule.Tile, args: tuple, budget: int,
               report: Callable) -> None:
        """At most ``budget`` L-BFGS-B iterations inside the [0, 1] box on one tile; stops early once converged."""
        import scipy.optimize

        shape = (1, *tile.shape, 3)

        def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grad = compiled.loss_and_grad(tf.constant(flat.reshape(shape), tf.float32), *args)
            return float(loss), grad.numpy().ravel().astype(np.float64)

        history: list[float] = []
        best = {"x": image[tile.slices].ravel().astype(np.float64)}

        def pixels() -> np.ndarray:
            return np.clip(best["x"].reshape(shape[1:]), 0.0, 1.0).astype(np.float32)

        def callback(intermediate_result: Any) -> None:  # scipy passes an OptimizeResult by this name
            best["x"] = intermediate_result.x
            history.append(float(intermediate_result.fun))
            report(len(history), history[-1], self._preview(image, tile, pixels))
            if len(history) > 5 and history[-6] - history[-1] < self.converged_rel * abs(history[-6]):
                raise _StopScale()

        try:
            scipy.optimize.minimize(fun, best["x"], jac=True, method="L-BFGS-B", bounds=scipy.optimize.Bounds(0.0, 1.0),
                                    callback=callback, options={"maxiter": budget, "maxcor": 20})
        except _StopScale:
            pass
        finally:
            tiles.blend(image, tile, pixels(), self.tile_overlap)


METHODS: dict[str, Any] = {"multiscale": MultiscaleMethod(), "seed": SeedMethod()}
