"""Optimization methods: the default multiscale one, and the seed's (seed.py) beside it.

A method turns a content image and weighted style images into a stylized image,
calling ``progress`` after every step.  Both work on float RGB in [0, 1].
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import tensorflow as tf

from nst_server.client import schedule
from nst_server.client.params import StyleParams
from nst_server.engine import colour, losses, temporal, texture, tiles
from nst_server.engine.features import STYLE_LAYERS, FeatureNetworks, resize_long_side, resize_to_shape
from nst_server.engine.progress import FinishNow, Progress, ProgressCallback
from nst_server.engine.seed import SeedMethod
from nst_server.engine.steps import CompiledSteps, compiled_steps
from nst_server.engine.targets import StyleTargetCache, content_hash, style_statistics


def strength_factor(strength: int) -> float:
    """Multiplier of the style weight at a strength (0-100): x1 at 50, x100 at 100, x0.01 at 0 (a log scale, so
    that equal steps of the slider look equal)."""
    return 10.0 ** ((strength - 50) / 25.0)


COLOUR_SAMPLES = 1 << 14  # of the painting's pixels, for the colour term


@dataclass(frozen=True)
class MultiscaleMethod:
    """The default: coarse-to-fine over an image pyramid, Adam with a cosine-decayed rate at each
    scale, the network in the precision measured faster on this machine,
    and overlapping tiles at scales too large to do at once.

    Losses: mean and covariance matching on block1..5_conv1 (steadier than Gram
    matrices) and content at block4_conv2 (keeps finer detail than block5_conv2),
    each layer's error in units of its target's RMS activation, so that the balance
    is the same on any network; a light total variation per pixel (the seed's 30
    smooths away the brush strokes).
    """

    name: str = "multiscale"
    content_layers: tuple[str, ...] = ("block4_conv2",)
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_loss: str = "meancov"  # or "gram"
    pooling: str = "average"  # smooth gradients: see weights.build_backbone
    style_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
    normalize: bool = True  # each layer's errors in units of its target's RMS activation (see style_term_weights)
    style_weight: float = 15.0
    content_weight: float = 1.0
    tv_weight: float = 0.05
    learning_rate: float = 0.025  # Adam, decayed to a tenth over each scale (cosine)
    adam_epsilon: float = 0.2  # relative to the gradient's root mean square (steps.CompiledSteps._adam_step)
    palette: float = 0.5  # how much the photo is recoloured to the painting's palette before the run (at strength >= 50)
    # A sliced distance between the result's pixel colours and the painting's, in the objective, at whole-network
    # scales (weight per unit of style weight at strength 50): the colours a run invents (a vivid orange tower,
    # speckles and sheen the painting never had) cost something, while the style blend and the strength slider keep
    # working on the same statistics (a finish after the run broke both).  Measured on the seven anchor pairs at 512 px
    # on ImageNet VGG16 (issue 16): the share of pixels in colours neither the painting nor the photo has fell from a
    # median 1.39x the classic's to 0.57x (Starry Night 12.7% -> 4.9%, Kahlo 10.2% -> 2.7%), the held-out style
    # distance from 1.22x to 1.15x, content 0.88x -> 0.90x; 5% more time.  At 100 the style distance rose again.
    colour_weight: float = 40.0
    texture_start: float = 1.0  # above strength 50, up to this much of the start is noise in the painting's palette
    tv_per_pixel: bool = True  # total variation as a mean, like the other terms, so its pull is the same at every scale
    tile_size: int = schedule.TILE_SIZE  # px: larger scales are optimized in overlapping tiles of this size
    tile_overlap: int = schedule.TILE_OVERLAP
    # Texture scales (schedule.py: above STRUCTURE_SIZE): the network's first blocks only, for brush texture at the
    # scale of pixels; content before the first pooling, so that the image can be shifted between steps (jitter
    # pixels at most) without a grid of the pooling's period forming.
    texture_style_layers: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1")
    texture_content_layers: tuple[str, ...] = ("block1_conv2",)
    texture_content_weight: float = 1.0
    texture_jitter: int = 4
    texture_style_blur: float = texture.STYLE_BLUR  # px: the painting's file pixels, softened (texture.py says why)
    # An animation's frames after the first (temporal.py): start from the previous result carried along the motion,
    # held there, pixel by pixel where the motion is reliable, by a mean squared error of this weight; a gentler rate.
    # bench/flicker.py (256 px, 6 frames): the change left after following the motion, 18.6/255 a frame for frames
    # stylized one by one in a pan, 1.5/255 at weight 1e3, 1.1/255 at 1e4 (the photos' own: 0.7), the look the same.
    temporal_kind: str = "flow"
    temporal_weight: float = 1e4
    followup_learning_rate: float = 0.0125
    min_coverage: float = 0.3  # below it the previous frame explains too little (a cut): the frame runs in full

    def objective(self, extractor: Any, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                  style_weight: float, colour_weight: float | None = None) -> Callable[[tf.Tensor], tf.Tensor]:
        """This method's loss of a (1, H, W, 3) image at the content's size, untiled (for judging results); the colour
        term weighs as at strength 50 unless ``colour_weight`` is given."""
        colour_weight = self._colour_term_weight(colour_weight)
        compiled = compiled_steps(extractor, self.style_loss, len(styles), colour=colour_weight > 0)
        whole = schedule.Tile(0, 0, *content.shape[:2])
        targets_of, content_rms = self._content_targets(compiled, content, [whole])
        style_targets = [style_statistics(extractor, s, self.style_loss) for s, _ in styles]
        blend = [w for _, w in styles]
        args = (targets_of(whole), style_targets, self.style_term_weights(style_targets, blend, style_weight),
                self.content_term_weights(content_rms), self.tv_term_weight(whole),
                *self._colour_args(compiled, [s for s, _ in styles], blend, colour_weight))
        return lambda image: compiled.loss_and_grad(image, tf.constant(0.0), *args)[0]

    def extractor(self, engine: FeatureNetworks, backbone: str, precision: str = "auto") -> Any:
        """The features this method optimizes, on the engine's network."""
        return engine.extractor(backbone, self.style_layers, self.content_layers, precision, self.pooling)

    def texture_extractor(self, engine: FeatureNetworks, backbone: str, precision: str = "auto") -> Any:
        """The network's first blocks, for the texture scales."""
        return engine.extractor(backbone, self.texture_style_layers, self.texture_content_layers, precision, self.pooling)

    def scales(self, height: int, width: int, sizes: list[int], iterations: list[int]) -> list[schedule.Scale]:
        """Whole-network scales at these long sides with these steps, tiled as this method tiles."""
        shapes = [schedule.long_side_shape(height, width, s) for s in sizes]
        return [schedule.Scale(s, shape, n, schedule.layout(*shape, self.tile_size, self.tile_overlap))
                for s, shape, n in zip(sizes, shapes, iterations, strict=True)]

    def probe_step(self, extractor: Any, content: np.ndarray, style: np.ndarray,
                   texture: bool = False) -> Callable[[], None]:
        """One Adam step of this method's compiled graph at the content's size, run to completion (for timing);
        ``texture``: a texture scale's step, ``extractor`` being self.texture_extractor's."""
        colour_weight = self._colour_term_weight()
        compiled = compiled_steps(extractor, self.style_loss, 1, self.texture_jitter if texture else 0,
                                  colour=not texture and colour_weight > 0)
        whole = schedule.Tile(0, 0, *content.shape[:2])
        targets_of, content_rms = self._content_targets(compiled, content, [whole])
        style_targets = [style_statistics(extractor, style, self.style_loss)]
        layer_weights = (1.0,) * len(self.texture_style_layers) if texture else None
        args = (targets_of(whole), style_targets,
                self.style_term_weights(style_targets, [1.0], self.style_weight, layer_weights),
                self.content_term_weights(content_rms), self.tv_term_weight(whole),
                *self._colour_args(compiled, [style], [1.0], colour_weight))
        x = tf.constant(content[None])
        zeros = tf.zeros_like(x)

        def step() -> None:
            compiled.adam_step(x, zeros, zeros, tf.constant(1.0), tf.constant(self.learning_rate),
                               tf.constant(self.adam_epsilon), *args)[3].numpy()
        return step

    def style_term_weights(self, targets: list[list[Any]], blend: list[float], style_weight: float,
                           layer_weights: tuple[float, ...] | None = None) -> tf.Tensor:
        """(styles, layers, 2) weights of each style layer's mean and covariance (or Gram) errors.

        Normalized, each layer's errors are measured in units of the style's own RMS activation
        there (mean errors / rms^2, second-moment errors / rms^4): the balance between layers,
        and between style and content, is then the same on any network whose layers differ
        only in scale, as ImageNet VGG19 and other trained VGGs do by factors of up to 100.
        """
        layer_weights = np.asarray(self.style_layer_weights if layer_weights is None else layer_weights, np.float64)
        layer_weights = layer_weights / layer_weights.sum()
        rows = []
        for stats, w in zip(targets, blend, strict=True):
            base = style_weight * w / sum(blend) * layer_weights
            if self.normalize:
                scale = np.array([losses.rms(layer) for layer in stats])
                rows.append(np.stack([base / scale**2, base / scale**4], axis=-1))
            else:
                rows.append(np.stack([base, base], axis=-1))
        return tf.constant(np.stack(rows), tf.float32)

    def tv_term_weight(self, tile: schedule.Tile) -> tf.Tensor:
        return tf.constant(self.tv_weight / (tile.shape[0] * tile.shape[1] if self.tv_per_pixel else 1.0), tf.float32)

    def _colour_term_weight(self, weight: float | None = None, strength: int = 50) -> float:
        """The colour term's weight: ``weight`` if given, else the method's, as much of it as the strength asks.

        Not the style weight's log scale: at 0 the colour distance alone would still recolour the photo (Adam takes
        full steps along whatever gradient there is), and above 50 it would outweigh the style statistics the upper
        half keeps.  So it rises from 0 at 0 to all of it at 50, along the square of the style weight's share of its
        value at 50: with the share itself, strength 25 already moved the picture as far as 50 does (61/255 from
        the photo, measured on the tests' 64 px run; squared 53, against 39 without the term)."""
        if weight is not None:
            return weight
        floor = strength_factor(0)
        share = min(1.0, (strength_factor(strength) - floor) / (1 - floor))
        return self.colour_weight * self.style_weight * share**2

    def _colour_args(self, compiled: CompiledSteps, styles: list[np.ndarray], blend: list[float], weight: float,
                     as_seen: Callable[[np.ndarray], np.ndarray] = lambda style: style) -> tuple:
        """The colour term's arguments (each style's colours as the scale sees the style, and their weights) when
        ``compiled`` has one, else none."""
        if not compiled.colour:
            return ()
        palettes = [tf.constant(colour.samples(as_seen(s), COLOUR_SAMPLES)) for s in styles]
        weights = [weight * w / sum(blend) for w in blend]
        return palettes, tf.constant(weights, tf.float32)

    def content_term_weights(self, content_rms: list[float], content_weight: float | None = None) -> tf.Tensor:
        """Weight of each content layer's error (normalized: relative to the content's RMS activation there)."""
        weight = self.content_weight if content_weight is None else content_weight
        weights = [weight / len(content_rms) / (r**2 if self.normalize else 1.0) for r in content_rms]
        return tf.constant(weights, tf.float32)

    def stylize(self, engine: FeatureNetworks, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                params: StyleParams, progress: ProgressCallback,
                previous: temporal.Previous | None = None) -> np.ndarray:
        """``previous``: the animation frame before this one, its photo and result (issue 20)."""
        original = content
        if params.preserve_colors == "luminance":
            content = colour.luminance(content)
            styles = [(colour.luminance(s), w) for s, w in styles]
            if previous is not None:
                previous = replace(previous, photo_view=colour.luminance, result_view=colour.luminance)
        elif params.preserve_colors == "match":
            styles = [(colour.match_colours(s, content), w) for s, w in styles]
        elif self.palette and params.strength:
            # The painting's palette, as much as the strength asks (none at 0, all of self.palette from 50 on).
            amount = self.palette * min(1.0, params.strength / 50)
            palette = colour.palette(styles)
            recoloured = colour.recolour_map(content, *palette, amount=amount)
            content = recoloured(content)
            if previous is not None:  # the photos' change as the run sees the photos: both through one map
                previous = replace(previous, photo_view=recoloured)
        motion = temporal.Motion(content, previous, self.temporal_kind) if previous is not None else None
        if motion is not None and motion.coverage < self.min_coverage:
            motion = None
        plan = schedule.plan_followup if motion is not None else schedule.plan
        scales = plan(*content.shape[:2], params.size, params.preset, params.steps, self.tile_size, self.tile_overlap)
        extractor = self.extractor(engine, params.backbone, params.precision)
        texture = (self.texture_extractor(engine, params.backbone, params.precision)
                   if any(scale.texture for scale in scales) else None)
        # Above 50 the style statistics are already met (the held-out style distance stops falling) and the
        # content term no longer matters: what still ties the result to the photo is where it starts.  So the
        # upper half of the slider starts the coarsest scale further from the photo, toward pure texture.
        noise = self.texture_start * max(0.0, (params.strength - 50) / 50) if motion is None else 0.0
        result = self.optimize(extractor, content, styles, scales, self.style_weight * strength_factor(params.strength),
                               params.style_scale, progress, cache=engine.style_targets, start_noise=(noise, params.seed),
                               texture_extractor=texture,
                               colour_weight=self._colour_term_weight(strength=params.strength), motion=motion)
        if scales[-1].size != params.size:
            result = resize_to_shape(result, schedule.long_side_shape(*original.shape[:2], params.size))
        if params.preserve_colors == "luminance":
            result = colour.with_chroma_of(result, resize_to_shape(original, result.shape[:2]))
        return result

    def optimize(self, extractor: Any, content: np.ndarray, styles: list[tuple[np.ndarray, float]],
                 scales: list[schedule.Scale], style_weight: float, style_scale: float, progress: ProgressCallback,
                 cache: StyleTargetCache | None = None, start_noise: tuple[float, int] = (0.0, 0),
                 texture_extractor: Any = None, colour_weight: float | None = None,
                 motion: temporal.Motion | None = None) -> np.ndarray:
        """Coarse to fine (``scales``, schedule.plan's or self.scales'): at each scale, start from the previous
        scale's result, upsampled; the first from the content, of which ``start_noise`` (amount, seed) replaces a
        part by noise in the styles' palette.  Texture scales run ``texture_extractor``.  With ``motion`` (an
        animation's frame after the first), each scale starts from the previous frame's result carried here, where
        the motion is reliable, and a temporal term holds it there.

        A progress callback that raises FinishNow ends the run there: the image reached so
        far, at the finest scale's size, is the result.
        """
        cache = cache if cache is not None else StyleTargetCache()
        colour_weight = self._colour_term_weight(colour_weight)
        style_keys = [content_hash(s) for s, _ in styles]
        blend = [w for _, w in styles]
        total = sum(scale.steps * len(scale.tiles) for scale in scales)
        done, start = 0, time.perf_counter()
        image: np.ndarray | None = None
        try:
            for scale in scales:
                content_k = resize_to_shape(content, scale.shape)
                if image is None:
                    guide = motion.guide(scale.shape) if motion is not None else None
                    image = self._start(content_k, styles, *start_noise) if guide is None else motion.start(guide, content_k)
                    target = content_k
                else:
                    previous, image = image, resize_to_shape(image, scale.shape)
                    target = texture.target(image, content_k, previous.shape[:2]) if scale.texture else content_k
                    del previous  # the guide after the target's temporaries, not beside them (a follow-up's peak)
                    guide = motion.guide(scale.shape) if motion is not None else None
                    if guide is not None:  # the previous frame's brush texture carried over, not made anew (flicker)
                        carried = guide.target - image  # in place, then: no more full-size copies than this one
                        carried *= guide.mask
                        image += carried
                        del carried
                if scale.texture:
                    if texture_extractor is None:
                        raise ValueError("a texture scale needs the texture extractor")
                    ex, layer_weights, content_weight = texture_extractor, (1.0,) * len(self.texture_style_layers), \
                        self.texture_content_weight
                    # No colour term: the colours are settled by then (measured at 1024 px: off-palette 5.6% without
                    # it, 6.0% with it, for 4% more time), and the content term keeps them.
                    compiled = compiled_steps(ex, self.style_loss, len(styles), self.texture_jitter,
                                              temporal=guide is not None)
                else:
                    ex, layer_weights, content_weight = extractor, None, None
                    # The colour term (none at strength 0).  A tiled scale would pull each tile toward the whole
                    # painting's colours; whole-network scales are 512 px at most, one tile.
                    compiled = compiled_steps(ex, self.style_loss, len(styles), colour=colour_weight > 0,
                                              temporal=guide is not None)
                resize = partial(texture.painting, blur=self.texture_style_blur) if scale.texture else resize_long_side
                style_targets = [cache.get(ex, self.style_loss, s, key, self._style_side(scale, s, style_scale), resize)
                                 for (s, _), key in zip(styles, style_keys, strict=True)]
                style_w = self.style_term_weights(style_targets, blend, style_weight, layer_weights)
                colour_args = self._colour_args(compiled, [s for s, _ in styles], blend, colour_weight,
                                                partial(self._style_as_seen, scale=scale, style_scale=style_scale))
                targets_of, content_rms = self._content_targets(compiled, target, scale.tiles)
                content_w = self.content_term_weights(content_rms, content_weight)
                for tile in scale.tiles:
                    def report(step: int, loss: float, current: Callable, offset: int = done) -> None:
                        progress(Progress(offset + step, total, loss, time.perf_counter() - start, current))

                    args = (targets_of(tile), style_targets, style_w, content_w, self.tv_term_weight(tile), *colour_args,
                            *self._temporal_args(guide, tile))
                    overlap = schedule.TEXTURE_TILE_OVERLAP if scale.texture else self.tile_overlap
                    rate = self.learning_rate if guide is None else self.followup_learning_rate
                    self._adam(compiled, image, tile, args, scale.steps, report, overlap, rate)
                    done += scale.steps
        except FinishNow:
            pass
        assert image is not None
        if image.shape[:2] == tuple(scales[-1].shape):  # no copy of a full-size image at the peak
            return image
        return resize_to_shape(image, scales[-1].shape)

    def _temporal_args(self, guide: temporal.Guide | None, tile: schedule.Tile) -> tuple:
        """The temporal term's inputs for a tile (none without a previous frame)."""
        if guide is None:
            return ()
        return (tf.constant(guide.target[tile.slices][None]), tf.constant(guide.mask[tile.slices][None]),
                tf.constant(self.temporal_weight, tf.float32),
                tf.constant(self.learning_rate / self.followup_learning_rate - 1.0, tf.float32))  # unheld: full rate

    @classmethod
    def _style_as_seen(cls, style: np.ndarray, scale: schedule.Scale, style_scale: float) -> np.ndarray:
        """A whole-network scale's view of the painting: at its style side."""
        return resize_long_side(style, cls._style_side(scale, style, style_scale))

    @staticmethod
    def _style_side(scale: schedule.Scale, style: np.ndarray, style_scale: float) -> int:
        """The style's long side at a scale: the scale's times the style scale (schedule.style_side); at texture scales
        at most the painting's own, whose texture at its own resolution is what an enlarged copy would blur (but
        never smaller than at the finest whole-network scale)."""
        side = schedule.style_side(scale.size, style_scale)
        if not scale.texture:
            return side
        # Never below the finest whole-network scale's side, whose size validation has checked the network takes.
        return max(min(side, max(style.shape[:2])), schedule.style_side(schedule.STRUCTURE_SIZE, style_scale))

    @staticmethod
    def _start(content: np.ndarray, styles: list[tuple[np.ndarray, float]], amount: float, seed: int) -> np.ndarray:
        """The first scale's starting image: the content, ``amount`` of it replaced by noise in the styles' palette."""
        if amount <= 0:
            return content.copy()
        noise = colour.palette_noise(content.shape, *colour.palette(styles), seed)
        return np.clip((1 - amount) * content + amount * noise, 0.0, 1.0).astype(np.float32)

    @staticmethod
    def _content_targets(compiled: CompiledSteps, content: np.ndarray,
                         layout: list[schedule.Tile]) -> tuple[Callable[[schedule.Tile], list], list[float]]:
        """The content features of a tile (a function), and each content layer's RMS activation over the
        whole image at this scale, so that tiles share one normalization (tiled: one extra forward pass each)."""
        def features(tile: schedule.Tile) -> list:
            return list(compiled.features(tf.constant(content[tile.slices][None]))[1])

        if len(layout) == 1:
            targets = features(layout[0])
            return (lambda _tile: targets), [float(tf.sqrt(tf.reduce_mean(tf.square(t)))) for t in targets]
        sums = np.zeros(len(compiled.extractor.content_layers))
        counts = np.zeros_like(sums)
        for tile in layout:
            for i, target in enumerate(features(tile)):
                sums[i] += float(tf.reduce_sum(tf.square(target)))
                counts[i] += int(tf.size(target))
        return features, list(np.sqrt(sums / counts))

    @staticmethod
    def _preview(image: np.ndarray, tile: schedule.Tile, pixels: Callable[[], np.ndarray], overlap: int) -> Callable:
        def current() -> np.ndarray:
            if tile.shape == image.shape[:2]:
                return pixels()
            copy = image.copy()
            tiles.blend(copy, tile, pixels(), overlap)
            return copy
        return current

    def _adam(self, compiled: CompiledSteps, image: np.ndarray, tile: schedule.Tile, args: tuple, budget: int,
              report: Callable, overlap: int, learning_rate: float) -> None:
        """``budget`` Adam steps on one tile of ``image``, written back into it.  No early stop: as measured,
        the texture still forms up to the end of a budget, and fixed budgets keep the time estimate true."""
        x = tf.constant(image[tile.slices][None])
        m = v = tf.zeros_like(x)
        epsilon = tf.constant(self.adam_epsilon, tf.float32)
        try:
            for i in range(1, budget + 1):
                rate = learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (i - 1) / max(1, budget))))
                x, m, v, loss_t = compiled.adam_step(x, m, v, tf.constant(float(i)), tf.constant(rate), epsilon, *args)
                report(i, float(loss_t), self._preview(image, tile, lambda x=x: x[0].numpy(), overlap))
        finally:  # FinishNow included: the work done so far is kept
            tiles.blend(image, tile, x[0].numpy(), overlap)


METHODS: dict[str, Any] = {"multiscale": MultiscaleMethod(), "seed": SeedMethod()}
