"""Flicker of stylized animations (issue 20): frames stylized one by one against frames mode.

    python bench/flicker.py                               # 3 clips x (independent, flow), 8 frames, 384 px, balanced
    python bench/flicker.py --modes independent flow difference --weights 300 1000 3000 --clips pan
    python bench/flicker.py --quick                       # smoke run: 3 frames at 128 px, few steps

Clips, made in memory from ../shared/images (nothing committed): ``pan``, a window sliding across rocket.jpg;
``zoom``, centre crops of coffee.png closing in; ``object``, the cat from chelsea.png moving over a still
astronaut.png (pixels it uncovers were never seen before).  Each clip is stylized after starry_night.jpg in-process
on the benches' trained network (common.trained_backbone), as the plug-in's jobs run:
- ``independent``: every frame from its own photo (what several selected layers got before frames mode);
- ``flow`` / ``difference``: frames mode, each frame after the first given the previous frame's photo and result
  (nst_server/engine/temporal.py's two kinds), at each ``--weights`` of the temporal term.

Printed and written to bench/out/flicker.json, per clip and mode:
- flicker: mean over consecutive frames of the results' mean absolute change, over the photos' (issue 20: <= 1.5);
- floor: that flicker for a result whose strokes all moved exactly with the scene (in a pan, strokes of higher
  contrast than the photo's detail change more than the photo does, with no flicker at all);
- warp error: the same change (in /255) after carrying the earlier frame along the photos' flow, on pixels whose
  flow is reliable (motion-compensated: what is left is texture that does not move with the scene), beside the
  photos' own;
- look: each frame's held-out style and content distances (common.Judge) over the independent run's of that frame,
  the worst frame's (issue 20: within 1.2x);
- time: seconds of frame 1, mean of frames 2 on, and that over the mean independent frame (issue 20: <= 0.6).
Frame strips (photos, then each mode) in bench/out/flicker/<clip>.png and animations <clip>_<mode>.gif.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import OUT, SHARED_IMAGES, Judge, load_image, panel, stack, to_pil, trained_backbone, warm_up, write_json  # noqa: E402

from nst_server.client.params import StyleParams  # noqa: E402

CLIPS = ("pan", "zoom", "object")
MODES = ("independent", "flow", "difference")
STYLE = "starry_night.jpg"


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from nst_server.engine.features import resize_to_shape

    return resize_to_shape(image, (height, width))


def make_clip(name: str, frames: int, width: int, height: int) -> list[np.ndarray]:
    """A clip's photos, (height, width, 3) float in [0, 1]."""
    from nst_server.engine.features import resize_to_shape

    if name == "pan":  # the camera pans right, 1/64 of the frame's width per frame
        photo = load_image(SHARED_IMAGES / "rocket.jpg")
        window_h = round(photo.shape[0] * 0.75)  # room to pan
        window_w = round(window_h * width / height)
        step = max(1, window_w // 64)
        if window_w + step * (frames - 1) > photo.shape[1]:
            raise ValueError("rocket.jpg is too narrow for this many frames of the pan")
        top = (photo.shape[0] - window_h) // 2
        return [_fit(photo[top:top + window_h, i * step:i * step + window_w], width, height) for i in range(frames)]
    if name == "zoom":  # the camera closes in on the cup, 2% a frame
        photo = load_image(SHARED_IMAGES / "coffee.png")
        h, w = photo.shape[:2]
        clip = []
        for i in range(frames):
            zoom = 1.02 ** i
            ch, cw = round(h / zoom), round(w / zoom)
            top, left = (h - ch) // 2, (w - cw) // 2
            clip.append(_fit(photo[top:top + ch, left:left + cw], width, height))
        return clip
    if name == "object":  # the cat's head crosses a still background, a tenth of its size a frame
        background = _fit(load_image(SHARED_IMAGES / "astronaut.png")[64:448], width, height)
        cat = load_image(SHARED_IMAGES / "chelsea.png")[40:260, 110:330]  # the head
        size = height // 2
        cat = resize_to_shape(cat, (size, size))
        ys, xs = np.mgrid[0:size, 0:size]
        inside = (((ys - size / 2) / (size / 2)) ** 2 + ((xs - size / 2) / (size / 2)) ** 2 <= 1.0)[..., None]
        clip = []
        for i in range(frames):
            frame = background.copy()
            left, top = width // 16 + i * max(1, size // 10), height // 4
            region = frame[top:top + size, left:left + size]
            region[:] = np.where(inside[:region.shape[0], :region.shape[1]], cat[:region.shape[0], :region.shape[1]],
                                 region)
            clip.append(frame)
        return clip
    raise ValueError(f"unknown clip {name!r}; choose from {', '.join(CLIPS)}")


def mean_change(frames: list[np.ndarray]) -> float:
    """Mean absolute change between consecutive frames."""
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)]))


def warp_change(frames: list[np.ndarray], photos: list[np.ndarray]) -> float:
    """Mean absolute change between consecutive frames after carrying the earlier one along the photos' flow, on
    reliable pixels."""
    from nst_server.engine import temporal

    changes = []
    for t in range(1, len(frames)):
        backward = temporal.flow(photos[t], photos[t - 1])
        mask = temporal.reliability(backward, temporal.flow(photos[t - 1], photos[t]))
        carried = temporal.warp(frames[t - 1], backward)
        changes.append(float((mask * np.abs(frames[t] - carried)).sum() / (3 * mask.sum() + 1e-9)))
    return float(np.mean(changes))


def moving_floor(frames: list[np.ndarray], photos: list[np.ndarray]) -> float:
    """The mean change between consecutive frames of a result whose every pixel moved exactly with the scene: each
    frame's predecessor carried along the photos' flow, against that predecessor.  In a pan or zoom a painting's
    strokes are of higher contrast than the photo's detail, so the issue's flicker cannot fall below this over the
    photos' change even without any flicker at all."""
    from nst_server.engine import temporal

    return float(np.mean([np.abs(temporal.warp(frames[t - 1], temporal.flow(photos[t], photos[t - 1]))
                                 - frames[t - 1]).mean() for t in range(1, len(frames))]))


def stylize_clip(engine: Any, photos: list[np.ndarray], style: np.ndarray, params: StyleParams,
                 chained: bool) -> tuple[list[np.ndarray], list[float]]:
    """Each frame's result and seconds; ``chained``: frames mode (each frame given the previous one)."""
    from nst_server.engine.features import resize_to_shape
    from nst_server.engine.temporal import Previous

    results, seconds = [], []
    for t, photo in enumerate(photos):
        previous = Previous(photos[t - 1], results[-1]) if chained and t else None
        start = time.perf_counter()
        result = engine.stylize(photo, style, params, previous=previous)
        seconds.append(time.perf_counter() - start)
        results.append(resize_to_shape(result, photo.shape[:2]))  # as the worker gives it back: the layer's size
    return results, seconds


def side_by_side(photos: list[np.ndarray], results: dict[str, list[np.ndarray]]) -> list[Any]:
    """The frames of an animated panel: the photos, then each mode's frames, labelled (the README's animation)."""
    labels = ["photo", *(("frames stylized one by one" if k == "independent" else f"frames mode ({k})") for k in results)]
    return [panel([photo, *(r[t] for r in results.values())], labels).convert("P", palette=1, colors=255)  # adaptive
            for t, photo in enumerate(photos)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), choices=CLIPS)
    parser.add_argument("--modes", nargs="+", default=["independent", "flow"], choices=MODES)
    parser.add_argument("--weights", nargs="+", type=float, default=[], help="temporal weights (default: the method's)")
    parser.add_argument("--rates", nargs="+", type=float, default=[], help="follow-up learning rates (default: the method's)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=384, help="long side of the clip, px (its frames' own size)")
    parser.add_argument("--preset", default="balanced", choices=("preview", "balanced", "high"))
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 frames at 128 px, 8 steps")
    args = parser.parse_args()
    frames, size, steps = (3, 128, 8) if args.quick else (args.frames, args.size, 0)

    from nst_server.engine import methods
    from nst_server.engine.engine import StyleTransferEngine

    backbone, weights_file, description = trained_backbone()
    engine = StyleTransferEngine({backbone: weights_file})
    judge = Judge(engine, backbone)
    style = load_image(SHARED_IMAGES / STYLE)
    params = StyleParams(backbone=backbone, size=size, preset=args.preset, steps=steps)
    width, height = size, round(size * 2 / 3)
    base = methods.METHODS["multiscale"]
    print(f"network: {description}; {frames} frames of {width}x{height} px, {args.preset}, style {STYLE}", flush=True)
    warm_up(engine, backbone, np.full((64, 96, 3), 0.5, np.float32), style[:64, :64])

    variants: list[tuple[str, Any]] = []
    for mode in args.modes:
        if mode == "independent":
            variants.append((mode, base))
            continue
        for weight in args.weights or [base.temporal_weight]:
            for rate in args.rates or [base.followup_learning_rate]:
                label = mode + (f" w{weight:g}" if args.weights else "") + (f" lr{rate:g}" if args.rates else "")
                variants.append((label, replace(base, temporal_kind=mode, temporal_weight=weight,
                                                followup_learning_rate=rate)))
    report: dict[str, Any] = {"network": description, "frames": frames, "size": [width, height],
                              "preset": args.preset, "style": STYLE, "clips": {}}
    try:
        for clip in args.clips:
            photos = make_clip(clip, frames, width, height)
            photo_change = mean_change(photos)
            measures = [judge.against(style, p) for p in photos]
            rows, strips, independent = {}, [panel(photos, [f"photo {t + 1}" for t in range(frames)])], None
            all_results: dict[str, list[np.ndarray]] = {}
            photo_warp = warp_change(photos, photos)
            print(f"\n{clip}: photos change {photo_change * 255:.2f}/255 a frame, {photo_warp * 255:.2f}/255 after "
                  "their flow", flush=True)
            for label, method in variants:
                methods.METHODS["multiscale"] = method
                results, seconds = stylize_clip(engine, photos, style, params, chained=label != "independent")
                looks = [m(r) for m, r in zip(measures, results, strict=True)]
                if independent is None and label == "independent":
                    independent = (looks, seconds)
                row: dict[str, Any] = {
                    "flicker": round(mean_change(results) / photo_change, 3),
                    "moving_floor": round(moving_floor(results, photos) / photo_change, 3),
                    "warp_error": round(warp_change(results, photos) * 255, 2),
                    "style": [round(d.style, 4) for d in looks], "content": [round(d.content, 4) for d in looks],
                    "seconds": [round(s, 2) for s in seconds],
                }
                if independent is not None:
                    row["style_max_ratio"] = round(max(d.style / i.style for d, i in zip(looks, independent[0],
                                                                                          strict=True)), 3)
                    row["content_max_ratio"] = round(max(d.content / i.content for d, i in zip(looks, independent[0],
                                                                                                strict=True)), 3)
                    row["followup_time_ratio"] = round(float(np.mean(seconds[1:]) / np.mean(independent[1])), 3)
                rows[label] = row
                print(f"  {label:>22}: flicker {row['flicker']:.2f}x (floor {row['moving_floor']:.2f}x)  "
                      f"warp error {row['warp_error']:.1f}/255  "
                      f"style max {row.get('style_max_ratio', 1):.2f}x  content max {row.get('content_max_ratio', 1):.2f}x  "
                      f"frame 1 {seconds[0]:.1f} s, then {np.mean(seconds[1:]):.1f} s "
                      f"({row.get('followup_time_ratio', 1):.2f}x an independent frame)", flush=True)
                strips.append(panel(results, [f"{label} {t + 1}" for t in range(frames)]))
                all_results[label] = results
                (OUT / "flicker").mkdir(parents=True, exist_ok=True)
                gif = [to_pil(r) for r in results]
                gif[0].save(OUT / "flicker" / f"{clip}_{label.replace(' ', '_')}.gif", save_all=True,
                            append_images=gif[1:], duration=100, loop=0)
            stack(strips).save(OUT / "flicker" / f"{clip}.png")
            animation = side_by_side(photos, all_results)
            animation[0].save(OUT / "flicker" / f"{clip}_side_by_side.gif", save_all=True, append_images=animation[1:],
                              duration=120, loop=0)
            report["clips"][clip] = {"photo_change": round(photo_change * 255, 2), "photo_warp_error":
                                     round(photo_warp * 255, 2), "modes": rows}
    finally:
        methods.METHODS["multiscale"] = base
    print(f"\nwrote {write_json('flicker.json', report)} and bench/out/flicker/", flush=True)


if __name__ == "__main__":
    main()
