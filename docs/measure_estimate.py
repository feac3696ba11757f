"""How good is the dialog's time estimate?  Real jobs through a real server, against the estimate.

    .venv/bin/python docs/measure_estimate.py [--presets balanced] [--sizes 512 1024 2048] [--weights FILE]
    .venv/bin/python docs/measure_estimate.py --sizes --layers 2400 4096   # automatic detail, as the dialog's default
    .venv/bin/python docs/measure_estimate.py --sizes --layers 4096 --frames 3  # an animation: frames 2+ follow-ups

Starts ``python -m nst_server serve`` in a private folder, waits for the speed its
engine measures at start-up, then sends one job per preset and size (a shared
photo, 4:3, at that long side) the way the plug-in does, and with --layers one job per layer long side at
automatic detail (what the dialog's detail 0 chooses from the server's speed), and prints a table:
the estimate (nst_server/estimate.py, what the dialog shows) next to the time from
sending the job to its result, and the peak resident memory of the server's processes
(the socket process and its engine worker, Linux's VmHWM) after each job.  With --frames N each job is the first of
N frames of a pan (the photo sliding 1/64 of its width a frame), the others sent as frames mode sends them: with the
previous frame's photo and result (their estimate: estimate.followup_seconds).  Timing does not depend on the weights' values, so
without --weights the tests' seeded VGG19 file is written and used.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from nst_server.client import estimate, protocol, server_speed  # noqa: E402
from tests.conftest import shared_image  # noqa: E402
from tests.support.servers import ServerProcess, proc_status_kb  # noqa: E402


def photo(long_side: int, frame: int = 0) -> tuple[protocol.ImageDesc, bytes]:
    """A 4:3 photo at this long side; ``frame`` k of a pan: the window moved k/64 of its width."""
    width, height = long_side, long_side * 3 // 4
    step = max(1, width // 64)
    with Image.open(shared_image("chelsea.png")) as img:
        wide = img.convert("RGBA").resize((width + 8 * step, height), Image.LANCZOS)
        pixels = wide.crop((frame * step, 0, frame * step + width, height)).tobytes()
    return protocol.ImageDesc(width, height, "RGBA8"), pixels


def style() -> protocol.StyleImage:
    with Image.open(shared_image("starry_night.jpg")) as img:
        img = img.convert("RGB")
        img.thumbnail((512, 512))
        out = io.BytesIO()
        img.save(out, "PNG")
    return protocol.StyleImage("starry_night.png", out.getvalue())


def peak_memory_gb(pid: int) -> tuple[float, float]:
    """The peak resident memory (GB) of the socket process and of its children (the engine worker), each."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return proc_status_kb(pid, "VmHWM") * 1024 / 1e9, sum(proc_status_kb(int(c), "VmHWM") for c in children) * 1024 / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["balanced"], choices=list(estimate.BUDGET_S))
    parser.add_argument("--sizes", nargs="*", type=int, default=[512, 1024, 2048], help="detail = the layer's long side")
    parser.add_argument("--layers", nargs="*", type=int, default=[], help="layer long sides at automatic detail")
    parser.add_argument("--weights", help="VGG19 weights file (default: the tests' seeded file)")
    parser.add_argument("--frames", type=int, default=1, choices=range(1, 9), help="frames of a pan per job")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nst-estimate-"))
    weights = args.weights
    if weights is None:
        from tests.support.weights import write_legacy_h5

        weights = write_legacy_h5(folder / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg19", seed=1234)
    server = ServerProcess(folder, Path(weights), env={"NST_DATA_DIR": str(folder / "data")})
    rows = []
    try:
        conn = server.connect()
        speed = server_speed.wait(conn, timeout=600)
        if speed is None:
            sys.exit("the server never said how fast it is")
        print(f"server speed: {json.dumps(speed)}", flush=True)
        painting = style()
        for preset in args.presets:
            for layer, automatic in [*((size, False) for size in args.sizes), *((size, True) for size in args.layers)]:
                before = None
                for frame in range(args.frames):
                    desc, pixels = photo(layer, frame)
                    if frame == 0:
                        size = estimate.auto_detail(speed, desc.height, desc.width, preset) if automatic else layer
                    how = estimate.estimate_seconds if before is None else estimate.followup_seconds
                    guess = how(speed, desc.height, desc.width, size, preset)
                    started = time.monotonic()
                    result = conn.stylize(pixels, desc, [painting], {"preset": preset, "size": size, "seed": 1},
                                          silence_timeout=60.0, preview_long_side=max(desc.width, desc.height),
                                          previous=before)  # as the plug-in
                    real = time.monotonic() - started
                    before = (pixels, result)
                    rows.append({"preset": preset, "layer": f"{desc.width}x{desc.height}", "size": size,
                                 "automatic": automatic, "frame": frame + 1, "estimate_s": round(guess, 1),
                                 "real_s": round(real, 1), "error_percent": round(100 * (guess - real) / real, 1),
                                 **dict(zip(("socket_peak_gb", "worker_peak_gb"),
                                            (round(gb, 2) for gb in peak_memory_gb(server.process.pid)), strict=True))})
                    print(json.dumps(rows[-1]), flush=True)
        conn.close()
    finally:
        server.stop()
    print("\n| quality | layer | detail | frame | estimate | real | error | peak memory: socket process, worker |\n"
          "|---|---|---|---|---|---|---|---|")
    for row in rows:
        how = " (automatic)" if row["automatic"] else ""
        print(f"| {row['preset']} | {row['layer']} | {row['size']} px{how} | {row['frame']} | {row['estimate_s']:.1f} s | "
              f"{row['real_s']:.1f} s | {row['error_percent']:+.1f}% | "
              f"{row['socket_peak_gb']:.2f} GB, {row['worker_peak_gb']:.2f} GB |")
    if args.json:
        Path(args.json).write_text(json.dumps({"speed": speed, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
