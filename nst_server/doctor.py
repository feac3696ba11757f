"""What install.py's doctor (``--check``) asks the server's own Python: ``python -m nst_server.doctor``.

Prints one JSON object: the versions of the server's pieces, whether the VGG19
weights are found, load and are the official file, the GPUs TensorFlow sees, and
the network precision measured faster on this machine with both timings.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def probe(backbone: str = "vgg19") -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    report: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable}
    try:
        import tensorflow as tf
        import zmq

        import nst_server
    except ImportError as exc:
        report["import_error"] = str(exc)
        return report
    report.update(nst_server=nst_server.__version__, tensorflow=tf.__version__, libzmq=zmq.zmq_version())
    report["gpus"] = [device.name for device in tf.config.list_physical_devices("GPU")]
    report["cuda_build"] = bool(tf.test.is_built_with_cuda())
    from nst_server.engine import weights

    try:
        path = weights.find_weights(backbone)
        weights.load_backbone(backbone, path)
    except weights.WeightsMissing as exc:
        report["weights_error"] = str(exc)
    else:
        report["weights"] = str(path)
        report["weights_official"] = weights.is_official(backbone, path)
        report["precision"] = _precision(backbone, str(path))
    return report


def _precision(backbone: str, weights_file: str) -> dict[str, Any]:
    """The precision 'auto' uses and the timings it was chosen by (measured once per machine, then cached)."""
    from nst_server.engine.engine import StyleTransferEngine

    speed = StyleTransferEngine({backbone: weights_file}).measured_speed(backbone)
    return {"chosen": speed.precision, "seconds_per_megapixel_step": speed.seconds_per_megapixel_step,
            "measured_at": speed.measured_at}


def main() -> int:
    print(json.dumps(probe()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
