"""Weights files for tests, in the exact layouts Keras uses (random, seeded).

Real ImageNet weights cannot be downloaded here, so tests make their own files
and load them through the product's real loading code.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def _random_weights(backbone: str, seed: int):
    from nst_server.weights import build_backbone

    model = build_backbone(backbone)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for w in layer.get_weights():
            if w.ndim == 4:  # conv kernel: He initialisation keeps activations in range
                fan_in = w.shape[0] * w.shape[1] * w.shape[2]
                values.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), w.shape).astype(np.float32))
            else:
                values.append(rng.uniform(-0.05, 0.05, w.shape).astype(np.float32))
        if values:
            layer.set_weights(values)
    return model


def write_legacy_h5(path: Path, backbone: str = "vgg19", seed: int = 1234) -> Path:
    """The layout of Keras's downloaded ``*_weights_tf_dim_ordering_tf_kernels_notop.h5``."""
    model = _random_weights(backbone, seed)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = f.create_group(layer.name)
            weights = layer.get_weights()
            names = [f"{layer.name}_W_1:0".encode(), f"{layer.name}_b_1:0".encode()][: len(weights)]
            group.attrs["weight_names"] = np.array(names, dtype="S") if names else np.array([], dtype="S")
            for name, value in zip(names, weights):
                group.create_dataset(name.decode(), data=value)
    return path


def write_keras3(path: Path, backbone: str = "vgg19", seed: int = 1234) -> Path:
    """Keras 3's own ``.weights.h5`` layout."""
    assert str(path).endswith(".weights.h5")
    _random_weights(backbone, seed).save_weights(str(path))
    return path
