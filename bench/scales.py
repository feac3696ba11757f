"""Per scale of the default method, how much held-out style distance each step buys (issue 10, item 3).

    python bench/scales.py                                  # starry, balanced, 512 px, measured every 10 steps
    python bench/scales.py --pair kahlo --preset high --every 20
    python bench/scales.py --quick                          # smoke run: 192 px, 40 steps, every 5

One anchor pair (bench/common.ANCHOR_PAIRS) runs through engine.stylize at default settings, as an artist
runs it; a progress callback takes the current image every --every steps and at each scale's end, upsamples it
to --size and judges it there (bench/common.Judge: held-out style and content distances, the style at long side
size x style scale).  A scale's start is the previous scale's last image resized to this scale, which is what
the method starts from (the content itself at the first scale; before the seeded noise, where the method adds
any).  Per scale: long side, steps run (of those planned), distances at its start and
end, distance bought per step, and seconds (the judging's own time left out).  Prints a markdown table; writes
bench/out/scales_<pair>_<preset>_<size>.json with the trace.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    ANCHOR_CONTENT,
    ANCHOR_SIZE,
    Distances,
    Judge,
    anchor_pairs,
    load_image,
    pair_images,
    trained_backbone,
    warm_up,
    write_json,
)

from nst_server.client.params import StyleParams  # noqa: E402

QUICK = {"size": 192, "preset": "balanced", "steps": 40, "every": 5}


@dataclass
class ScaleRecord:
    """What one scale did: its image shape, steps run, distances at its start and end, seconds, the trace."""

    shape: tuple[int, int]
    start: Distances
    steps: int = 0
    end: Distances | None = None
    seconds: float = 0.0
    trace: list[tuple[int, Distances]] = field(default_factory=list)

    def as_dict(self, planned: int | None) -> dict[str, Any]:
        assert self.end is not None
        per_step = max(1, self.steps)
        return {"long_side": max(self.shape), "shape": list(self.shape), "steps_run": self.steps, "steps_planned": planned,
                "start": self.start.as_dict(), "end": self.end.as_dict(),
                "style_bought_per_step": round((self.start.style - self.end.style) / per_step, 5),
                "content_lost_per_step": round((self.end.content - self.start.content) / per_step, 5),
                "seconds": round(self.seconds, 1),
                "trace": [{"step": s, **d.as_dict()} for s, d in self.trace]}


class ScaleTracker:
    """A progress callback that judges the current image every ``every`` steps and at each scale's end.

    Scales are told apart by the current image's shape (Progress carries no scale index); tiled scales
    report the whole image blended, so their shape is the scale's too.
    """

    def __init__(self, measure: Callable[[np.ndarray], Distances], judged_shape: tuple[int, int],
                 content: np.ndarray, every: int) -> None:
        self.measure, self.judged_shape, self.content, self.every = measure, judged_shape, content, every
        self.scales: list[ScaleRecord] = []
        self.last: np.ndarray | None = None  # the latest image: the current scale's end once the next one starts
        self.overhead = 0.0  # seconds spent judging, left out of the scales' times
        self.started = time.perf_counter()
        self.scale_clock = 0.0  # judging-free seconds at the previous scale's last step

    def judge(self, image: np.ndarray) -> Distances:
        from nst_server.engine.features import resize_to_shape

        return self.measure(resize_to_shape(image, self.judged_shape))

    def clock(self) -> float:
        return time.perf_counter() - self.started - self.overhead

    def __call__(self, progress: Any) -> None:
        now = self.clock()
        entered = time.perf_counter()
        image = progress.current()
        if not self.scales or tuple(image.shape[:2]) != self.scales[-1].shape:
            self._next_scale(tuple(image.shape[:2]))
        scale = self.scales[-1]
        scale.steps += 1
        scale.seconds = now - self.scale_clock
        self.last = image
        if scale.steps % self.every == 0:
            scale.trace.append((scale.steps, self.judge(image)))
        self.overhead += time.perf_counter() - entered

    def _next_scale(self, shape: tuple[int, int]) -> None:
        from nst_server.engine.features import resize_to_shape

        if self.scales:
            self._close()
        # What the method starts this scale from: the content at the first scale, else the last image resized.
        start = resize_to_shape(self.content if self.last is None else self.last, shape)
        self.scales.append(ScaleRecord(shape, self.judge(start)))

    def _close(self) -> None:
        scale = self.scales[-1]
        self.scale_clock += scale.seconds
        assert self.last is not None
        if not scale.trace or scale.trace[-1][0] != scale.steps:
            scale.trace.append((scale.steps, self.judge(self.last)))
        scale.end = scale.trace[-1][1]

    def finish(self) -> list[ScaleRecord]:
        if self.scales and self.scales[-1].end is None:
            self._close()
        return self.scales


def planned_steps(content: np.ndarray, size: int, preset: str, steps: int) -> dict[tuple[int, int], int]:
    """Steps the schedule plans per scale shape (steps x tiles), to set beside the steps run."""
    from nst_server.client import schedule

    return {scale.shape: scale.steps * len(scale.tiles) for scale in schedule.plan(*content.shape[:2], size, preset, steps)}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scale | long side | steps run/planned | style start -> end | style bought per step | "
             "content start -> end | seconds |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        planned = r["steps_planned"] if r["steps_planned"] is not None else "?"
        lines.append(f"| {i} | {r['long_side']} | {r['steps_run']}/{planned} | {r['start']['style']:.3f} -> "
                     f"{r['end']['style']:.3f} | {r['style_bought_per_step']:.5f} | {r['start']['content']:.3f} -> "
                     f"{r['end']['content']:.3f} | {r['seconds']} |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", default="starry", help="an anchor pair (bench/common.ANCHOR_PAIRS)")
    parser.add_argument("--preset", choices=("preview", "balanced", "high"))
    parser.add_argument("--size", type=int, help=f"long side of the result, where it is judged (default {ANCHOR_SIZE})")
    parser.add_argument("--steps", type=int, help="total steps (0, the default: the preset's)")
    parser.add_argument("--every", type=int, help="judge every N steps of a scale (default 10)")
    parser.add_argument("--strength", type=int, help="default: the engine's default")
    parser.add_argument("--quick", action="store_true", help="a smoke run of this script: " + ", ".join(
        f"{k} {v}" for k, v in QUICK.items()))
    args = parser.parse_args()
    defaults = QUICK if args.quick else {"size": ANCHOR_SIZE, "preset": "balanced", "steps": 0, "every": 10}
    for key, value in defaults.items():  # what was given wins, --quick or not
        if getattr(args, key) is None:
            setattr(args, key, value)
    (args.anchor_pair,) = anchor_pairs([args.pair])  # an unknown name stops here, before TensorFlow loads
    return args


def main() -> None:
    args = parse_args()
    from nst_server.engine.engine import StyleTransferEngine
    from nst_server.engine.methods import METHODS

    pair = args.anchor_pair
    backbone, weights_file, described = trained_backbone()
    engine = StyleTransferEngine({backbone: weights_file})
    judge = Judge(engine, backbone)  # raises if a judging layer is in the multiscale objective
    content_full, style_full = load_image(ANCHOR_CONTENT), load_image(pair.style)
    images = pair_images(pair, content_full, style_full, args.size)
    measure = judge.against(images.style, images.content)
    photo, anchor = measure(images.content), measure(images.anchor)
    settings = {"backbone": backbone, "size": args.size, "preset": args.preset, "steps": args.steps,
                "style_scale": pair.style_scale}
    if args.strength is not None:
        settings["strength"] = args.strength
    print(f"judged on {described}; precision 'auto' chose {engine.measured_speed(backbone).describe()}\n"
          f"{pair.name}: {settings}; every {args.every} steps, judged at {args.size} px\n"
          f"photo: style {photo.style:.3f} content {photo.content:.3f}; "
          f"anchor: style {anchor.style:.3f} content {anchor.content:.3f}", flush=True)
    warm_up(engine, backbone, content_full, style_full)
    tracker = ScaleTracker(measure, images.content.shape[:2], content_full, args.every)
    started = time.perf_counter()
    result = engine.stylize(content_full, style_full, StyleParams(**settings), progress=tracker)
    wall = time.perf_counter() - started
    planned = planned_steps(content_full, args.size, args.preset, args.steps)
    rows = [scale.as_dict(planned.get(scale.shape)) for scale in tracker.finish()]
    final = tracker.judge(result)
    print("\n" + table(rows))
    noise = getattr(METHODS["multiscale"], "noise", 0.0)
    if noise:  # the method adds seeded noise to each scale's start, which the tracker cannot see (no start report)
        print(f"note: the method adds noise ({noise}) at each scale's start; the start distances are before it")
    print(f"\nresult: style {final.style:.3f} content {final.content:.3f}; {wall:.1f} s wall "
          f"({tracker.overhead:.1f} s of it judging)")
    report = {"pair": pair.name, "weights": described, "settings": settings, "every": args.every,
              "photo": photo.as_dict(), "anchor": anchor.as_dict(), "result": final.as_dict(),
              "wall_s": round(wall, 1), "judging_s": round(tracker.overhead, 1), "start_before_noise": noise,
              "scales": rows}
    print("written to", write_json(f"scales_{pair.name}_{args.preset}_{args.size}.json", report))


if __name__ == "__main__":
    main()
