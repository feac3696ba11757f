"""Weights: both Keras layouts load through the real code; no silent random fallback."""

from __future__ import annotations

import numpy as np
import pytest

from nst_server.client.params import StyleParams
from nst_server.engine import weights
from tests.support.weights import write_keras3, write_legacy_h5

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run


def first_kernel(model) -> np.ndarray:
    return model.get_layer("block1_conv1").get_weights()[0]


def test_legacy_h5_layout_loads_the_files_values(vgg19_weights):
    import h5py

    model = weights.load_backbone("vgg19", vgg19_weights)
    with h5py.File(vgg19_weights, "r") as f:
        stored = f["block1_conv1"]["block1_conv1_W_1:0"][()]
    np.testing.assert_array_equal(first_kernel(model), stored)


def test_keras3_layout_loads_too(tmp_path, vgg19_weights):
    path = write_keras3(tmp_path / "vgg19.weights.h5", "vgg19", seed=1234)
    np.testing.assert_array_equal(
        first_kernel(weights.load_backbone("vgg19", path)), first_kernel(weights.load_backbone("vgg19", vgg19_weights))
    )


def test_vgg16_backbone_loads_its_own_file(tmp_path):
    path = write_legacy_h5(tmp_path / "vgg16_notop.h5", "vgg16", seed=7)
    model = weights.load_backbone("vgg16", path)
    assert "block5_conv3" in [layer.name for layer in model.layers]


def test_file_of_the_wrong_backbone_is_refused_with_advice(tmp_path):
    path = write_legacy_h5(tmp_path / "vgg16_notop.h5", "vgg16", seed=7)
    with pytest.raises(weights.WeightsMissing) as err:
        weights.load_backbone("vgg19", path)
    assert "not a usable VGG19 weights file" in str(err.value) and "--weights FILE" in str(err.value)


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(weights.WeightsMissing):
        weights.load_backbone("vgg19", path)


def test_lookup_order_explicit_then_environment_then_installed(isolated_dirs, vgg19_weights, monkeypatch):
    with pytest.raises(weights.WeightsMissing) as err:
        weights.find_weights("vgg19")
    assert "NST_VGG19_WEIGHTS" in str(err.value) and "install.py --weights" in str(err.value)
    installed = weights.install_weights_file("vgg19", vgg19_weights)
    assert weights.find_weights("vgg19") == installed
    assert not weights.is_official("vgg19", installed)
    monkeypatch.setenv("NST_VGG19_WEIGHTS", str(vgg19_weights))
    assert weights.find_weights("vgg19") == vgg19_weights
    with pytest.raises(weights.WeightsMissing) as err:
        weights.find_weights("vgg19", isolated_dirs / "nowhere.h5")
    assert "does not exist" in str(err.value)


def test_failed_download_says_how_to_work_offline(isolated_dirs, monkeypatch):
    # A closed local port stands in for a machine without internet access.
    monkeypatch.setattr(weights, "KERAS_BASE_URL", "http://127.0.0.1:9/keras-applications")
    with pytest.raises(weights.WeightsMissing) as err:
        weights.download_weights("vgg19")
    message = str(err.value)
    assert "Could not download the VGG19 weights" in message
    assert "install.py --weights FILE" in message and "NST_VGG19_WEIGHTS" in message


def test_engine_never_runs_on_random_weights(isolated_dirs, monkeypatch):
    from nst_server.engine.engine import StyleTransferEngine

    monkeypatch.setattr(weights, "KERAS_BASE_URL", "http://127.0.0.1:9/keras-applications")
    engine = StyleTransferEngine()
    content = np.full((16, 16, 3), 0.5, np.float32)
    with pytest.raises(weights.WeightsMissing):
        engine.stylize(content, content, StyleParams(size=32, steps=1))
