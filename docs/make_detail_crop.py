"""The README's 100% crop: a large layer's default result beside the same crop of a 512 px run enlarged.

    python docs/make_detail_crop.py

A shared photo (public domain, docs may show it) enlarged to a 4-megapixel layer (as in the README's dialog picture)
is stylized as the plug-in does by default (balanced, automatic detail from this
machine's measured speed, the result at the layer's own size) and, as before issue 17,
at 512 px and enlarged to the layer's size.  Two 100% crops of each go side by side
into docs/images/detail_crop.jpg; the caption file says the network, the detail and the times.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
from common import effective_detail, load_image, panel, stack, trained_backbone  # noqa: E402
from detail import CROP_CENTRES, crop_at, run  # noqa: E402

from nst_server.client.params import StyleParams  # noqa: E402

PHOTO, STYLE, LONG_SIDE = "rocket.jpg", "starry_night.jpg", 2400  # as in the dialog picture


def main() -> None:
    from nst_server.client import estimate
    from nst_server.engine.engine import StyleTransferEngine
    from nst_server.engine.features import resize_long_side

    backbone, weights, described = trained_backbone()
    engine = StyleTransferEngine({backbone: weights})
    speed = engine.measured_speed(backbone).for_clients()
    photo, style = resize_long_side(load_image(PHOTO), LONG_SIDE), load_image(STYLE)
    engine.stylize(style[:64, :64], style, StyleParams(backbone=backbone, size=64, steps=2))  # built, as a warm server
    height, width = photo.shape[:2]
    size = estimate.auto_detail(speed, height, width, "balanced")
    started = time.monotonic()
    before, before_s = run(engine, backbone, photo, style, "balanced", 512)
    after, after_s = run(engine, backbone, photo, style, "balanced", size)
    print(f"512 px run {before_s:.0f} s, default ({size} px) {after_s:.0f} s; {time.monotonic() - started:.0f} s in all")
    labels = ["before: a 512 px run enlarged", f"now: the default (balanced, automatic detail: {size} px)"]
    rows = [panel([crop_at(before, cy, cx), crop_at(after, cy, cx)], labels if i == 0 else ["", ""])
            for i, (cy, cx) in enumerate(CROP_CENTRES)]
    stack(rows).save(HERE / "images" / "detail_crop.jpg", quality=90, optimize=True)
    (HERE / "images" / "detail_crop.txt").write_text(
        f"made by docs/make_detail_crop.py with {described}: {PHOTO} enlarged to {width}x{height}, {STYLE}; "
        f"effective detail {effective_detail(before)} px (512 px run enlarged) and {effective_detail(after)} px "
        f"(default, {size} px); {after_s / before_s:.2f}x the 512 px run's time\n")
    print("wrote", HERE / "images" / "detail_crop.jpg")


if __name__ == "__main__":
    main()
