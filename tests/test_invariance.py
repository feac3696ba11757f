"""The default method's balance does not depend on the network's activation scale.

Users get ImageNet VGG19, whose activations are up to about 100 times larger than
the trained VGG16 here in the deep blocks; what is tuned here must look the same
there.  A copy of the trained network with its conv activations rescaled per block
(exactly, by ReLU homogeneity) stands in for such a network.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from nst_server.client.params import StyleParams
from nst_server.client.schedule import PRESETS
from nst_server.engine.engine import StyleTransferEngine
from nst_server.engine.features import resize_long_side
from nst_server.engine.methods import METHODS
from tests.support.weights import write_rescaled

IMAGE_SIDE = 256  # the content and starry fixtures (conftest.py)
# Roughly how ImageNet VGG19's activations compare with the trained VGG16's, block by block.
BLOCK_FACTORS = (1.4, 9.5, 20.0, 124.0, 42.0)
SIZE = 128  # one scale; preview works at half of it
RUN = {"backbone": "vgg16", "size": SIZE, "precision": "float32"}


@pytest.fixture(scope="module")
def rescaled_engine(trained_vgg16_weights, tmp_path_factory):
    path = tmp_path_factory.mktemp("rescaled") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return StyleTransferEngine({"vgg16": str(write_rescaled(trained_vgg16_weights, path, BLOCK_FACTORS))})


def mean_difference_255(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean() * 255)


def test_the_rescaled_network_really_has_rescaled_activations(trained_engine, rescaled_engine, content):
    layers = [f"block{b}_conv1" for b in range(1, 6)]
    image = tf.constant(content[None])
    original = trained_engine.extractor("vgg16", layers, (), "float32")(image)[0]
    rescaled = rescaled_engine.extractor("vgg16", layers, (), "float32")(image)[0]
    ratios = [float(tf.norm(r) / tf.norm(o)) for o, r in zip(original, rescaled, strict=True)]
    np.testing.assert_allclose(ratios, BLOCK_FACTORS, rtol=1e-4)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_gives_the_same_result_on_a_rescaled_network(trained_engine, rescaled_engine, content, starry,
                                                                 preset):
    original = trained_engine.stylize(content, starry, StyleParams(preset=preset, **RUN))
    rescaled = rescaled_engine.stylize(content, starry, StyleParams(preset=preset, **RUN))
    stylized_by = mean_difference_255(original, resize_long_side(content, SIZE))
    differs_by = mean_difference_255(original, rescaled)
    print(f"{preset}: stylization changed the photo by {stylized_by:.1f}/255; rescaled network differs by {differs_by:.2f}/255")
    assert stylized_by > 10  # a real stylization, not a result that ignores the network
    assert differs_by <= 2.0


def test_without_normalization_the_rescaled_network_gives_another_picture(trained_engine, rescaled_engine, content,
                                                                          starry):
    """What the test above guards against: absolute losses change the balance with the activation scale."""
    method = dataclasses.replace(METHODS["multiscale"], normalize=False)
    sizes, iterations = [130, 184], [40, 40]

    def run(engine: StyleTransferEngine) -> np.ndarray:
        extractor = method.extractor(engine, "vgg16", "float32")
        return method.optimize(extractor, content, [(starry, 1.0)], method.scales(*content.shape[:2], sizes, iterations),
                               method.style_weight, 1.0, lambda p: None)

    assert mean_difference_255(run(trained_engine), run(rescaled_engine)) > 5.0
