"""How fast this machine runs the default method's step, in each network precision: measured, not guessed.

CPU flags do not tell which precision is faster: an AVX512-BF16 processor without
AMX ran VGG19 1.6x slower in bfloat16 than in float32, one with AMX 2x faster.
So a few steps of each are timed once and the result is cached with the server,
keyed by what could change it (processor, accelerators, TensorFlow, backbone).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from nst_server.client import paths
from nst_server.engine.features import FeatureNetworks
from nst_server.engine.methods import METHODS

PRECISIONS = ("float32", "bfloat16")
PROBE_SHAPE = (288, 384)  # px: large enough that a step runs at the size artists use, small enough to take a second
PROBE_STEPS = 3  # timed steps of each precision, taking turns, after one untimed step that traces and warms up
CLEARLY_SLOWER = 3.0  # times the other precision's step, after a round: measured enough
CACHE_VERSION = 3  # 2: texture steps timed too; 3: whole-network steps with the colour term


@dataclass(frozen=True)
class Speed:
    """Seconds per megapixel-step of the default method in each precision (at whole-network scales and at texture
    scales), and the faster precision."""

    precision: str
    seconds_per_megapixel_step: dict[str, float]
    texture_seconds_per_megapixel_step: dict[str, float]
    backbone: str
    machine: dict[str, Any]
    measured_at: str

    def describe(self) -> str:
        timings = ", ".join(f"{p} {s:.2f} s (texture {self.texture_seconds_per_megapixel_step[p]:.2f} s)"
                            for p, s in self.seconds_per_megapixel_step.items())
        return f"{self.precision} (per megapixel-step: {timings})"

    def for_clients(self) -> dict[str, Any]:
        """What a pong carries (protocol.parse_speed)."""
        return {"precision": self.precision, "seconds_per_megapixel_step": self.seconds_per_megapixel_step,
                "texture_seconds_per_megapixel_step": self.texture_seconds_per_megapixel_step}


def cache_path() -> Path:
    return paths.data_dir() / "speed.json"


def machine() -> dict[str, Any]:
    """What the measurement depends on; a cached result for another machine is measured again."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cores": cores, "tensorflow": tf.__version__,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")], "cache_version": CACHE_VERSION}


def _probe_step(engine: FeatureNetworks, backbone: str, precision: str, texture: bool) -> Callable[[], None]:
    method = METHODS["multiscale"]
    content = np.random.default_rng(0).random((*PROBE_SHAPE, 3), dtype=np.float32)
    extractor = (method.texture_extractor if texture else method.extractor)(engine, backbone, precision)
    step = method.probe_step(extractor, content, content, texture)
    step()  # traces (once per network) and warms up
    return step


def measure(engine: FeatureNetworks, backbone: str = "vgg19") -> Speed:
    """Time the default method's step, at whole-network and at texture scales, in each precision on this machine.

    The precisions take turns and each keeps its fastest step, so that a burst of other
    work on the machine cannot make the slower one look faster.  A precision CLEARLY_SLOWER than the
    other after a round is not timed again: on a CPU without bfloat16 units a bfloat16 step takes 8-10
    times as long, and further rounds of it would only delay the server's first job."""
    kinds = [(p, texture) for p in PRECISIONS for texture in (False, True)]
    steps = {kind: _probe_step(engine, backbone, *kind) for kind in kinds}
    best = dict.fromkeys(kinds, float("inf"))
    for _ in range(PROBE_STEPS):
        for kind, step in steps.items():
            started = time.perf_counter()
            step()
            best[kind] = min(best[kind], time.perf_counter() - started)
        for (precision, texture) in list(steps):
            others = [best[p, texture] for p in PRECISIONS if p != precision]
            if best[precision, texture] > CLEARLY_SLOWER * min(others):
                del steps[precision, texture]
    megapixels = PROBE_SHAPE[0] * PROBE_SHAPE[1] / 1e6
    # Never 0 (a very fast accelerator, rounded): clients and the cache take only positive timings.
    timings = {p: max(round(best[p, False] / megapixels, 4), 1e-4) for p in PRECISIONS}
    texture = {p: max(round(best[p, True] / megapixels, 4), 1e-4) for p in PRECISIONS}
    return Speed(min(timings, key=timings.get), timings, texture, backbone, machine(),
                 time.strftime("%Y-%m-%dT%H:%M:%S%z"))


MAX_SECONDS = 1e4  # per megapixel-step: far beyond any machine that could finish a job; more is a damaged cache


def _valid_timing(seconds: Any) -> bool:
    return not isinstance(seconds, bool) and isinstance(seconds, (int, float)) and 0 < seconds <= MAX_SECONDS  # NaN fails


def from_cache_entry(entry: Any, backbone: str) -> Speed | None:
    """The measurement a cache entry holds, if it is one this machine could have made; else None (measured again).

    The cache is a file anyone with the user's rights can damage: every field is checked, and
    impossible numbers (none, negative, infinite, a precision that is not the faster one) are refused."""
    if not isinstance(entry, dict) or set(entry) != {f.name for f in fields(Speed)}:
        return None
    timings, precision = entry["seconds_per_megapixel_step"], entry["precision"]
    texture = entry["texture_seconds_per_megapixel_step"]
    for table in (timings, texture):
        if not isinstance(table, dict) or set(table) != set(PRECISIONS) or not all(_valid_timing(s) for s in table.values()):
            return None
    if precision not in PRECISIONS or timings[precision] != min(timings.values()):
        return None
    if entry["backbone"] != backbone or not isinstance(entry["measured_at"], str) or entry["machine"] != machine():
        return None
    return Speed(precision, {p: float(s) for p, s in timings.items()}, {p: float(s) for p, s in texture.items()},
                 backbone, entry["machine"], entry["measured_at"])


def cached(backbone: str = "vgg19") -> Speed | None:
    """The cached measurement for this machine and backbone, if there is a sound one.

    Never blocks nor raises: a cache that is not a plain file (a FIFO), too large, nested too deep
    to parse, not an object or holding impossible numbers is as good as none, and the measurement
    that follows writes a good one over it."""
    data = paths.read_json_object(cache_path(), private=True)
    return from_cache_entry(data.get(backbone), backbone) if data is not None else None


def load_or_measure(engine: FeatureNetworks, backbone: str = "vgg19") -> Speed:
    """The cached measurement, or a new one (a few seconds, once per machine), written to the cache."""
    speed = cached(backbone)
    if speed is None:
        speed = measure(engine, backbone)
        paths.update_json_cache(cache_path(), backbone, asdict(speed))  # read-only folder: measured again next time
    return speed
