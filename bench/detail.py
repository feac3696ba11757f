"""Detail on the layers artists have: 2-4 MP photos stylized at automatic detail, against a 512 px run enlarged.

    python bench/detail.py                      # 3 photos x balanced, plus one photo enlarged to 4096 px
    python bench/detail.py --presets preview balanced high --photos Storm.jpg
    python bench/detail.py --quick              # smoke run: one photo shrunk to 1024 px, balanced, few steps

Photos: Debian's mate-backgrounds package (GPL; downloaded here at run time, never committed), its nature folder.
For each photo and preset, the engine runs as the plug-in does (automatic detail from this machine's measured
speed, the result at the photo's own size) and, as the baseline in the same run, at 512 px balanced, enlarged to
the photo's size (what a layer got before texture scales).  Printed and written to bench/out/detail.json:
- effective detail (bench/common.effective_detail) of the result and of the baseline;
- time as a ratio to the 512 px balanced run, and the time the estimate gave (estimate / real);
- the look at 512 px: the result shrunk to 512 px, its held-out style and content distances against the 512 px
  run's (ratios; issue 17 asks for at most 1.3);
- 100% crops side by side, baseline then result: bench/out/detail/<photo>_<preset>_crop.png;
- the process's peak memory so far (issue 17: at most 4 GB at 4096 px).
"""

from __future__ import annotations

import argparse
import io
import lzma
import os
import resource
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import OUT, Judge, effective_detail, load_image, to_pil, trained_backbone, write_json  # noqa: E402

from nst_server.client.params import StyleParams  # noqa: E402

PACKAGE = "mate-backgrounds"
POOL_URL = "https://deb.debian.org/debian/pool/main/m/mate-backgrounds/mate-backgrounds_1.26.0-1_all.deb"
NATURE = "usr/share/backgrounds/mate/nature/"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gimp-style-transfer-bench" / "mate"
DEFAULT_PHOTOS = ("Storm.jpg", "Blinds.jpg", "TwoWings.jpg")
ENLARGED = ("Dune.jpg", 4096)  # one photo enlarged to the largest layer the issue names
STYLE = "starry_night.jpg"
CROP = 384  # px, the side of a 100% crop


def fetch_photos() -> Path:
    """The package's nature photos, extracted once into the cache (apt-get download where it works, else the pool)."""
    folder = CACHE / NATURE
    if folder.is_dir() and any(folder.glob("*.jpg")):
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    deb = next(CACHE.glob(f"{PACKAGE}_*.deb"), None)
    if deb is None:
        done = subprocess.run(["apt-get", "download", PACKAGE], cwd=CACHE, capture_output=True).returncode == 0
        deb = next(CACHE.glob(f"{PACKAGE}_*.deb"), None) if done else None
        if deb is None:
            deb = CACHE / POOL_URL.rsplit("/", 1)[1]
            with urllib.request.urlopen(POOL_URL, timeout=120) as response:
                deb.write_bytes(response.read())
    data = _ar_member(deb.read_bytes(), "data.tar")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.lstrip("./").startswith(NATURE)]
        tar.extractall(CACHE, members=members, filter="data")
    return folder


def _ar_member(archive: bytes, prefix: str) -> bytes:
    """The member of a .deb (an ar archive) whose name starts with ``prefix``, decompressed."""
    position = 8  # "!<arch>\n"
    while position < len(archive):
        name = archive[position:position + 16].decode().strip().rstrip("/")
        size = int(archive[position + 48:position + 58].decode().strip())
        body = archive[position + 60:position + 60 + size]
        if name.startswith(prefix):
            return lzma.decompress(body) if name.endswith(".xz") else body
        position += 60 + size + size % 2
    raise SystemExit(f"no {prefix} in the package")


def crop_at(image: np.ndarray, cy: float, cx: float, side: int = CROP) -> np.ndarray:
    """A 100% crop, ``side`` px square, centred at fractions (cy, cx) of the image (kept inside it)."""
    h, w = image.shape[:2]
    y0, x0 = min(max(0, int(cy * h) - side // 2), h - side), min(max(0, int(cx * w) - side // 2), w - side)
    return image[y0:y0 + side, x0:x0 + side]


CROP_CENTRES = ((0.5, 0.5), (0.33, 0.25))  # the centre and a third of the way in


def crops(before: np.ndarray, after: np.ndarray, path: Path) -> None:
    """Two 100% crops of each, baseline left, result right."""
    rows = []
    for cy, cx in CROP_CENTRES:
        gap = np.ones((CROP, 8, 3), np.float32)
        rows.append(np.concatenate([crop_at(before, cy, cx), gap, crop_at(after, cy, cx)], 1))
        rows.append(np.ones((8, rows[-1].shape[1], 3), np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(np.concatenate(rows[:-1], 0)).save(path)


def run(engine: Any, backbone: str, photo: np.ndarray, style: np.ndarray, preset: str, size: int) -> tuple[np.ndarray, float]:
    """A job as the server runs it: stylized at ``size``, brought to the photo's size; and its wall time."""
    from nst_server.engine.enlarge import enlarge
    from nst_server.engine.targets import StyleTargetCache

    engine.style_targets = StyleTargetCache()  # each run pays for its style statistics, as a first request does
    started = time.perf_counter()
    result = enlarge(engine.stylize(photo, style, StyleParams(backbone=backbone, size=size, preset=preset)), photo)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="*", default=list(DEFAULT_PHOTOS), help="none: only the enlarged one")
    parser.add_argument("--presets", nargs="+", default=["balanced"], choices=("preview", "balanced", "high"))
    parser.add_argument("--no-enlarged", action="store_true", help=f"skip {ENLARGED[0]} enlarged to {ENLARGED[1]} px")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from nst_server.client import estimate
    from nst_server.engine.engine import StyleTransferEngine
    from nst_server.engine.features import resize_long_side, resize_to_shape

    folder = fetch_photos()
    backbone, weights_file, described = trained_backbone()
    engine = StyleTransferEngine({backbone: weights_file})
    judge = Judge(engine, backbone)
    speed = engine.measured_speed(backbone).for_clients()
    style = load_image(STYLE)
    jobs = [(name, None) for name in args.photos] + ([] if args.no_enlarged or args.quick else [ENLARGED])
    if args.quick:
        jobs = [(args.photos[0], 1024)]
    print(f"on {described}; speed {speed}", flush=True)
    # builds and traces, as a warm server
    engine.stylize(style[:64, :64], style, StyleParams(backbone=backbone, size=64, steps=2))
    report: dict[str, Any] = {"weights": described, "speed": speed, "photos": {}}
    for name, long_side in jobs:
        photo = load_image(folder / name)
        if long_side:
            photo = resize_long_side(photo, long_side)
        key = f"{name}@{max(photo.shape[:2])}"
        baseline, base_s = run(engine, backbone, photo, style, "balanced", 512)
        small_base = resize_long_side(baseline, 512)
        measure = judge.against(resize_long_side(style, 512), resize_long_side(photo, 512))
        base_d = measure(small_base)
        row: dict[str, Any] = {"shape": list(photo.shape[:2]), "photo_detail": effective_detail(photo),
                               "baseline": {"seconds": round(base_s, 1), "detail": effective_detail(baseline),
                                            **base_d.as_dict()}}
        for preset in args.presets:
            size = estimate.auto_detail(speed, *photo.shape[:2], preset)
            estimated = estimate.estimate_seconds(speed, *photo.shape[:2], size, preset)
            result, seconds = run(engine, backbone, photo, style, preset, size)
            d = measure(resize_to_shape(result, small_base.shape[:2]))
            entry = {"size": size, "seconds": round(seconds, 1), "time_ratio": round(seconds / base_s, 2),
                     "estimate_s": round(estimated, 1), "estimate_over_real": round(estimated / seconds, 2),
                     "detail": effective_detail(result), "detail_ratio": None, **d.as_dict(),
                     "style_ratio": round(d.style / base_d.style, 2), "content_ratio": round(d.content / base_d.content, 2)}
            entry["detail_ratio"] = round(entry["detail"] / max(photo.shape[:2]), 2)
            entry["peak_memory_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # KiB on Linux
            row[preset] = entry
            crops(baseline, result, OUT / "detail" / f"{Path(name).stem}_{max(photo.shape[:2])}_{preset}_crop.png")
            print(f"  {key} {preset}: detail {entry['detail']} px ({entry['detail_ratio']} of the long side; "
                  f"512 px run enlarged: {row['baseline']['detail']}), {seconds:.0f} s = {entry['time_ratio']}x the 512 px "
                  f"run, estimate/real {entry['estimate_over_real']}, style x{entry['style_ratio']} content "
                  f"x{entry['content_ratio']} at 512 px; peak memory {entry['peak_memory_gb']} GB", flush=True)
        report["photos"][key] = row
        write_json("detail.json", report)
    print("\n| photo | preset | detail (long side) | 512 px run enlarged | time / 512 px run | estimate / real | "
          "style, content at 512 px (x the 512 px run) |\n|---|---|---|---|---|---|---|")
    for key, row in report["photos"].items():
        for preset in args.presets:
            e = row[preset]
            print(f"| {key} | {preset} | {e['detail']} px ({e['detail_ratio']}) | {row['baseline']['detail']} px | "
                  f"{e['time_ratio']}x | {e['estimate_over_real']} | {e['style_ratio']}, {e['content_ratio']} |")
    print("\nwritten to", OUT / "detail.json", "and", OUT / "detail")


if __name__ == "__main__":
    main()
