"""The VGG weights files the server accepts: their names, where Keras publishes them, the md5 Keras checks.

Standard library only: the installer (the system's Python) checks an installed file with it, and the engine
finds, downloads and loads the files it names (nst_server/engine/weights.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications"


@dataclass(frozen=True)
class KerasWeights:
    """The ImageNet weights file Keras applications download for a backbone."""

    backbone: str
    filename: str
    md5: str  # the hash Keras itself checks

    @property
    def url(self) -> str:
        return f"{KERAS_BASE_URL}/{self.backbone}/{self.filename}"

    @property
    def env_var(self) -> str:
        return f"NST_{self.backbone.upper()}_WEIGHTS"

    @property
    def keras3_filename(self) -> str:
        return f"{self.backbone}_notop.weights.h5"


KERAS_WEIGHTS: dict[str, KerasWeights] = {
    "vgg19": KerasWeights("vgg19", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
    "vgg16": KerasWeights("vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
}


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
