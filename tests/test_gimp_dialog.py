"""The plug-in's windows in GUI GIMP 3 (3.0 and 3.2) on a virtual screen (Xvfb), pressed like a person would.

gimp_gui_driver.py runs GIMP with its interface, closes the dialog with Escape
on a photo and on three layers (named as frames, then plainly), presses Return in the dialog,
Stop and then Cancel in the progress window, kills a plug-in in the middle of a
job and presses Ctrl+Z once.  With NST_WRITE_DOCS_IMAGES=1 (what
docs/make_dialog_screenshot.py sets) the pictures of the dialog and of the
progress window are written to docs/images/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_server.client.params import StyleParams
from tests.conftest import REPO, shared_image
from tests.test_gimp_e2e import gimp, installed, make_workspace, stop_server  # noqa: F401  (fixtures)
from tests.test_gimp_workflow import EVERY_ARGUMENT, STYLE, env_for, prepare

pytestmark = pytest.mark.gimp


@pytest.fixture(scope="module")
def workspace(gimp, tmp_path_factory, vgg19_weights):  # noqa: F811
    return make_workspace(gimp, tmp_path_factory, vgg19_weights, "dialog")

SUPPORT = Path(__file__).parent / "support"
FIRST = {**EVERY_ARGUMENT, "steps": 300}  # long enough that the interactive runs see live previews
LONG = {"size": 64, "steps": 600, "strength": 70, "preset": "preview"}
DEFAULTS_PHOTO, DEFAULTS_SIZE = "rocket.jpg", (2400, 1800)  # the new user's dialog is shown on this photo
FRAMES_SIZE = (320, 240)  # three layers named as frames, then with plain names


def read_xwd(path: Path) -> Image.Image:
    """An X window dump (24-bit ZPixmap, what xwd writes on Xvfb) as a PIL image."""
    data = path.read_bytes()
    fields = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order = fields[0], fields[4], fields[5], fields[7]
    bits_per_pixel, bytes_per_line, ncolors = fields[11], fields[12], fields[19]
    assert bits_per_pixel == 32, bits_per_pixel
    start = header_size + 12 * ncolors
    rows = np.frombuffer(data[start:start + bytes_per_line * height], np.uint8).reshape(height, bytes_per_line)
    pixels = rows[:, :width * 4].reshape(height, width, 4)
    rgb = pixels[..., [2, 1, 0]] if byte_order == 0 else pixels[..., [1, 2, 3]]
    return Image.fromarray(np.ascontiguousarray(rgb))


def window_picture(xwd: Path, docs_name: str, min_height: int) -> None:
    """A window the driver photographed: drawn at a real size; the README's copy when NST_WRITE_DOCS_IMAGES is set."""
    picture = read_xwd(xwd)
    print(f"{xwd.name}: {picture.size}")
    assert picture.width > 200 and picture.height > min_height
    if os.environ.get("NST_WRITE_DOCS_IMAGES"):
        picture.save(REPO / "docs" / "images" / docs_name, optimize=True)


def rgba(run_dir: Path, entry: dict) -> np.ndarray:
    width, height = entry["size"]
    return np.frombuffer((run_dir / "out" / entry["raw"]).read_bytes(), np.uint8).reshape(height, width, 4)


def same_image(run_dir: Path, before: list[dict], after: list[dict]) -> None:
    assert [(e["name"], e["offsets"], e["size"]) for e in after] == [(e["name"], e["offsets"], e["size"]) for e in before]
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(rgba(run_dir, a), rgba(run_dir, b))


@pytest.fixture(scope="module")
def gui_run(gimp, workspace, installed):  # noqa: F811
    w = workspace["ws"]
    for script in ("gimp_workflow_batch.py", "gimp_layer_report.py", "gimp_gui_batch.py", "gimp_gui_driver.py"):
        shutil.copyfile(SUPPORT / script, gimp.outside(f"{w}/{script}"))
    profile = gimp.outside(f"{w}/profile")
    (profile / "gimprc").write_text("(show-welcome-dialog no)\n")
    run_dir = prepare(gimp, workspace, "gui", [], LONG)
    with Image.open(shared_image(DEFAULTS_PHOTO)) as photo:  # a layer of the size artists have
        photo.convert("RGB").resize(DEFAULTS_SIZE, Image.Resampling.LANCZOS).save(run_dir / "photo.jpg", quality=90)
    spec = json.loads((run_dir / "spec.json").read_text())
    spec.update(every_argument=FIRST, long=LONG, defaults_photo=f"{w}/gui/photo.jpg", frames_size=FRAMES_SIZE)
    (run_dir / "spec.json").write_text(json.dumps(spec))
    started = time.monotonic()
    result = gimp.run(["python3", f"{w}/gimp_gui_driver.py", f"{w}/gui"],
                      env_for(workspace, "gui", NST_PLUGIN_TRACE=f"{w}/gui/trace.jsonl", NST_GIMP_GUI=workspace["gui"],
                              NST_GUI_BATCH=f"{w}/gimp_gui_batch.py", NST_WORKFLOW_BATCH=f"{w}/gimp_workflow_batch.py"),
                      timeout=600)
    print(f"GUI session {time.monotonic() - started:.1f} s, exit {result.returncode}\n{result.stdout[-3000:]}")
    if result.returncode != 0 or not (run_dir / "out" / "report.json").exists():
        log = run_dir / "gimp.log"
        pytest.fail(result.stderr[-3000:] + (log.read_text()[-3000:] if log.exists() else ""))
    yield run_dir, json.loads((run_dir / "out" / "report.json").read_text())
    stop_server(gimp.outside(f"{w}/workflow/run"))


def test_dialog_offers_the_parameters_of_the_result_and_stop_keeps_the_result(gui_run):
    run_dir, report = gui_run
    assert report["first"]["status"] == "success", report["first"]["message"]
    stop = report["stop"]
    assert stop["status"] == "success", stop["message"]
    new = stop["after"][0]
    assert new["name"] == f"Photo ({STYLE}) ({STYLE})"
    # Return was pressed without touching the dialog: what ran is what the result layer's parasite offered.
    assert new["provenance"]["args"] == FIRST
    assert new["provenance"]["stopped_early"] is True
    window_picture(run_dir / "stop-progress.xwd", "progress.png", min_height=50)


def test_a_new_users_dialog_shows_every_default_and_the_estimate(gui_run):
    run_dir, report = gui_run
    assert report["defaults"]["status"] == "cancel", report["defaults"]  # Escape closed it; nothing ran
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    shown = [e for e in events if e["event"] == "estimate-shown"]
    on_photo = [e for e in shown if e["t"] < report["frames"]["opened"]]  # before the dialog on three layers
    print([e["text"] for e in on_photo])
    defaults = StyleParams()
    assert {(e["preset"], e["size"], e["steps"]) for e in on_photo} == {(defaults.preset, 0, 0)}
    width, height = DEFAULTS_SIZE
    assert re.fullmatch(rf"Result: {width}×{height} px (at full detail|painted at \d+ px detail), in about .+ "
                        rf"\(automatic: the most that fits in .+\)", on_photo[-1]["text"]), on_photo[-1]["text"]
    window_picture(run_dir / "defaults-dialog.xwd", "dialog.png", min_height=200)


def test_every_control_has_a_mnemonic_of_its_own(gui_run):
    """GIMP checks the dialog's keyboard mnemonics as it builds it and complains on stderr."""
    run_dir, _ = gui_run
    log = (run_dir / "gimp.log").read_text(errors="replace").splitlines()
    assert [line for line in log if "mnemonic" in line and "plug-in-style-transfer" in line] == []


def test_cancel_button_leaves_the_image_as_before(gui_run):
    run_dir, report = gui_run
    cancel = report["cancel"]
    assert cancel["status"] == "cancel", cancel["message"]
    same_image(run_dir, cancel["before"], cancel["after"])


def test_repeat_runs_with_the_last_values(gui_run):
    _, report = gui_run
    repeat = report["repeat"]
    assert repeat["status"] == "success", repeat["message"]
    names = [e["name"] for e in repeat["after"]]
    new = repeat["after"][names.index("Photo") - 1]  # directly above its source
    assert new["name"].startswith(f"Photo ({STYLE})")  # GIMP adds " #1": that name is taken
    assert new["provenance"]["args"] == FIRST


def test_after_a_kill_one_undo_restores_the_image(gui_run):
    run_dir, report = gui_run
    kill = report["kill"]
    print(kill["status"], kill["message"], [e["name"] for e in kill["during"]])
    assert kill["status"] in ("calling-error", "execution-error")
    assert f"Photo ({STYLE}) (styling…)" in [e["name"] for e in kill["during"]]  # the live layer, left behind
    same_image(run_dir, kill["before"], kill["after"])


def test_two_layers_are_one_undo_step(gui_run):
    run_dir, report = gui_run
    multi = report["multi"]
    assert multi["status"] == "success", multi["message"]
    names = [e["name"] for e in multi["during"]]
    print(names)
    assert names[-4:] == [f"Photo ({STYLE}) #1", "Photo", f"Background ({STYLE})", "Background"]  # name taken
    same_image(run_dir, multi["before"], multi["after"])


def test_dialog_shows_the_estimated_time_before_ok(gui_run):
    run_dir, _ = gui_run
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    shown = [e["text"] for e in events if e["event"] == "estimate-shown"]
    print(shown)
    # The dialog opened on the first result, whose detail is FIRST's 48 px (preview paints at half, at least 32 px).
    assert any(re.fullmatch(r"Result: \d+×\d+ px painted at 32 px detail, in about \d+ s", text) for text in shown), shown


def dialog_estimates(run_dir: Path, stage: dict) -> list[dict]:
    """What the estimate line said while one interactive run's dialog was open."""
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    return [e for e in events if e["event"] == "estimate-shown" and stage["opened"] <= e["t"] <= stage["closed"]]


def test_layers_named_as_frames_check_animation_frames_and_the_estimate_covers_the_animation(gui_run):
    run_dir, report = gui_run
    width, height = FRAMES_SIZE
    for stage, frames in (("frames", True), ("plain", False)):
        assert report[stage]["status"] == "cancel", report[stage]  # Escape closed it; nothing ran
        shown = dialog_estimates(run_dir, report[stage])
        print(stage, [(e["frames"], e["text"]) for e in shown])
        assert shown and {e["frames"] for e in shown} == {frames}  # the box as the dialog opened, never changed
        final = shown[-1]["text"]
        if frames:
            assert re.fullmatch(rf"Result: 3 frames of {width}×{height} px (at full detail|painted at \d+ px detail), "
                                r"in about .+ \(the first about .+, then about .+ each\)", final), final
        else:
            assert re.fullmatch(r"Result: 3 layers at their own sizes (at full detail|painted at \d+ px detail), "
                                r"in about .+ \(automatic: the most that fits in .+\)", final), final
        picture = read_xwd(run_dir / f"{stage}-dialog.xwd")  # the driver saw the dialog drawn
        assert picture.width > 200 and picture.height > 200, picture.size
