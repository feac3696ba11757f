"""How long the seed method (the TensorFlow tutorial's) takes: ``python bench/seed_speed.py [--size 512 --steps 100]``."""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import load_image, timing_backbone, write_json  # noqa: E402

from nst_server.client.params import StyleParams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--content", default="coffee.png")
    parser.add_argument("--style", default="starry_night.jpg")
    parser.add_argument("--backbone", choices=("vgg19", "vgg16"), default="vgg19")
    args = parser.parse_args()

    from nst_server.engine.engine import StyleTransferEngine

    backbone, weights_file, described = timing_backbone(args.backbone)
    engine = StyleTransferEngine({backbone: weights_file})
    content, style = load_image(args.content), load_image(args.style)
    stamps: list[float] = []
    started = time.perf_counter()
    result = engine.stylize(content, style, StyleParams(method="seed", backbone=backbone, size=args.size,
                                                        steps=args.steps), progress=lambda p: stamps.append(time.perf_counter()))
    total = time.perf_counter() - started
    steady = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
    report = {
        "method": "seed", "backbone": described, "size": args.size, "result_shape": list(result.shape[:2]),
        "steps": args.steps, "total_s": round(total, 2), "first_step_s": round(stamps[0] - started, 2),
        "steady_s_per_step": round(steady, 3), "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    for key, value in report.items():
        print(f"{key:>18}: {value}")
    print("written to", write_json(f"seed_{backbone}_{args.size}_{args.steps}.json", report))


if __name__ == "__main__":
    main()
