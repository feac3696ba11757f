"""The strength slider from 0 to 100: does it run from barely styled to nearly pure texture in even steps?

    python bench/strength.py                      # starry and matisse anchor pairs, balanced, 512 px
    python bench/strength.py --pairs kahlo --size 256 --strengths 0 50 100

For each strength: the held-out style distance and content distance (bench/common.py, Judge), and how far
the result moved from the photo (mean absolute difference, /255).  Even steps: successive strengths 25
apart should move the result by similar amounts; the table prints each step's share of the whole range.
Writes a panel per pair (bench/out/strength/<pair>_<size>.png) and bench/out/strength_<size>.json.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    ANCHOR_CONTENT,
    OUT,
    Judge,
    anchor_pairs,
    load_image,
    pair_images,
    panel,
    trained_backbone,
    write_json,
)

from nst_server.client.params import StyleParams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=["starry", "matisse"])
    parser.add_argument("--strengths", nargs="+", type=int, default=[0, 25, 50, 75, 100])
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    from nst_server.engine.engine import StyleTransferEngine

    backbone, weights_file, described = trained_backbone()
    engine = StyleTransferEngine({backbone: weights_file})
    judge = Judge(engine, backbone)
    print(f"judged on {described}; {args.preset} at {args.size} px")
    report: dict[str, list[dict]] = {}
    content = load_image(ANCHOR_CONTENT)
    for pair in anchor_pairs(args.pairs):
        style = load_image(pair.style)
        images = pair_images(pair, content, style, args.size)
        measure = judge.against(images.style, images.content)
        rows, results = [], []
        for strength in args.strengths:
            started = time.perf_counter()
            result = engine.stylize(content, style, StyleParams(
                backbone=backbone, size=args.size, preset=args.preset, strength=strength, style_scale=pair.style_scale))
            seconds = time.perf_counter() - started
            distances = measure(result)
            moved = float(np.abs(result - images.content).mean() * 255)
            rows.append({"strength": strength, **distances.as_dict(), "moved_255": round(moved, 1),
                         "seconds": round(seconds, 1)})
            results.append(result)
            print(f"  {pair.name} strength {strength}: style {distances.style:.3f} content {distances.content:.3f} "
                  f"moved {moved:.1f}/255 ({seconds:.0f} s)", flush=True)
        # Each step's share of the whole move from the first strength to the last, in the style distance.
        span = rows[0]["style"] - rows[-1]["style"]
        for before, after in zip(rows, rows[1:], strict=False):
            after["share_of_style_range"] = round((before["style"] - after["style"]) / span, 2) if span else None
        report[pair.name] = rows
        (OUT / "strength").mkdir(parents=True, exist_ok=True)
        panel([images.content, images.style, *results],
              ["photo", "style", *(f"strength {r['strength']}: style {r['style']:.2f} content {r['content']:.2f}"
                                   for r in rows)], OUT / "strength" / f"{pair.name}_{args.size}.png")
    print("\n| pair | " + " | ".join(f"strength {s}" for s in args.strengths) + " |")
    print("|---|" + "---|" * len(args.strengths))
    for name, rows in report.items():
        cells = [f"{r['style']:.3f} / {r['content']:.3f} ({r.get('share_of_style_range', '-')})" for r in rows]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("cells: style distance / content distance (this step's share of the style distance's whole range)")
    print("written to", write_json(f"strength_{args.size}.json", {"weights": described, "preset": args.preset,
                                                                  "size": args.size, "pairs": report}))


if __name__ == "__main__":
    main()
