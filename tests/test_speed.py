"""Precision 'auto' is the one measured faster on this machine, measured once and cached with the server."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

from nst_server.engine import speed
from nst_server.engine.engine import StyleTransferEngine
from nst_server.engine.methods import METHODS


def network_dtype(engine: StyleTransferEngine) -> str:
    """The compute dtype of the network the default method runs with precision 'auto'."""
    extractor = METHODS["multiscale"].extractor(engine, "vgg19", "auto")
    return extractor.model.layers[1].compute_dtype


def test_measures_both_precisions_once_and_picks_the_faster(isolated_dirs, vgg19_weights):
    engine = StyleTransferEngine({"vgg19": str(vgg19_weights)})
    measured = engine.measured_speed("vgg19")
    timings = measured.seconds_per_megapixel_step
    assert set(timings) == {"float32", "bfloat16"} and all(t > 0 for t in timings.values())
    assert measured.precision == min(timings, key=timings.get)
    cached = json.loads(speed.cache_path().read_text())["vgg19"]
    assert cached["seconds_per_megapixel_step"] == timings
    # A fresh engine (a restarted server) reads the cache instead of measuring again.
    again = StyleTransferEngine({"vgg19": str(vgg19_weights)}).measured_speed("vgg19")
    assert again.measured_at == measured.measured_at and again.seconds_per_megapixel_step == timings
    print("measured:", measured.describe())


def _write_cache(measured: speed.Speed) -> None:
    speed.cache_path().parent.mkdir(parents=True, exist_ok=True)
    speed.cache_path().write_text(json.dumps({measured.backbone: asdict(measured)}))


def test_auto_follows_the_measurement_not_the_cpu_flags(isolated_dirs, vgg19_weights):
    base = speed.Speed("float32", {"float32": 1.0, "bfloat16": 1.6}, {"float32": 0.3, "bfloat16": 0.5},
                       "vgg19", speed.machine(), "then")
    _write_cache(base)
    assert network_dtype(StyleTransferEngine({"vgg19": str(vgg19_weights)})) == "float32"
    _write_cache(replace(base, precision="bfloat16", seconds_per_megapixel_step={"float32": 2.0, "bfloat16": 1.0}))
    assert network_dtype(StyleTransferEngine({"vgg19": str(vgg19_weights)})) == "bfloat16"


def test_a_measurement_from_another_machine_is_measured_again(isolated_dirs, vgg19_weights):
    other = speed.Speed("bfloat16", {"float32": 9.0, "bfloat16": 1.0}, {"float32": 2.0, "bfloat16": 0.3},
                        "vgg19", {**speed.machine(), "cpu": "another"},
                        "then")
    _write_cache(other)
    measured = StyleTransferEngine({"vgg19": str(vgg19_weights)}).measured_speed("vgg19")
    assert measured.measured_at != "then" and measured.machine == speed.machine()
