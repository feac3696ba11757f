"""The artist's workflow (issues 5 and 12) in a real GIMP 3 (3.0 and 3.2): the plug-in through the PDB, a real server.

One GIMP run builds several small images and calls the procedure on each (two
selected layers, a feathered selection, grey, 16-bit, a group, a style layer,
every argument, indexed); other runs use the suite's watcher in the plug-in: a trace file
of what GIMP holds in the result layer at each change (read back from GIMP),
and a press of the progress window's Stop or Cancel after the first live
preview; one run is killed with SIGKILL in the middle of the job.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.gimp import GimpEnvironment
from tests.test_gimp_e2e import OBSERVER_FILE, gimp, installed, make_workspace, stop_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.gimp


@pytest.fixture(scope="module")
def workspace(gimp, tmp_path_factory, vgg19_weights):  # noqa: F811
    return make_workspace(gimp, tmp_path_factory, vgg19_weights, "workflow")

SUPPORT = Path(__file__).parent / "support"
STYLE = "starry_night"
QUICK = {"size": 64, "steps": 3, "strength": 70, "preset": "preview"}
# Long enough for the server's previews (one every 2 s) to reach the plug-in more than once.
LONG = {"size": 64, "steps": 600, "strength": 70, "preset": "preview"}
EVERY_ARGUMENT = {"strength": 85, "preset": "preview", "preserve-colors": True, "style-scale": 1.5, "seed": 7,
                  "size": 48, "steps": 4, "second-style-weight": 30}
MAIN_CASES = ["two_layers", "selection", "grey", "deep", "group", "style_layer", "every_argument", "indexed",
              "bad_style", "group_selection", "one_style", "two_styles", "auto_detail"]


@pytest.fixture(scope="module")
def ws(gimp, workspace, installed):  # noqa: F811
    for script in ("gimp_workflow_batch.py", "gimp_layer_report.py", "busy_client.py"):
        shutil.copyfile(SUPPORT / script, gimp.outside(f"{workspace['ws']}/{script}"))
    yield workspace
    stop_server(gimp.outside(f"{workspace['ws']}/workflow/run"))


def env_for(space, run: str, **extra: str) -> dict[str, str]:
    w = space["ws"]
    return {
        "GIMP3_DIRECTORY": f"{w}/profile", "NST_DATA_DIR": space["data"], "NST_STATE_DIR": f"{w}/state",
        "NST_RUNTIME_DIR": f"{w}/workflow/run",  # one server for every run of this module
        "NST_E2E_DIR": f"{w}/{run}", "NST_OFFLINE": "1", "NST_PLUGIN_OBSERVER": f"{w}/{OBSERVER_FILE}",
        "NST_LAYER_REPORT": f"{w}/gimp_layer_report.py", **extra,
    }


def prepare(genv: GimpEnvironment, space, run: str, cases: list[str], params: dict) -> Path:
    w = space["ws"]
    run_dir = genv.outside(f"{w}/{run}")
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    spec = {"cases": cases, "content": f"{w}/content.png", "style": f"{w}/{STYLE}.jpg", "params": params,
            "every_argument": EVERY_ARGUMENT, "out": f"{w}/{run}/out"}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    return run_dir


def gimp_argv(space) -> list[str]:
    return [space["console"], "-nis", "--batch-interpreter=python-fu-eval",
            "-b", f"exec(open('{space['ws']}/gimp_workflow_batch.py').read())", "--quit"]


def run_gimp(genv, space, run: str, cases: list[str], params: dict, **extra_env: str) -> dict:
    run_dir = prepare(genv, space, run, cases, params)
    started = time.monotonic()
    result = genv.run(gimp_argv(space), env_for(space, run, **extra_env), timeout=600)
    print(f"GIMP ran {time.monotonic() - started:.1f} s; exit {result.returncode}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return load_report(run_dir)


def load_report(run_dir: Path) -> dict:
    report = json.loads((run_dir / "out" / "report.json").read_text())
    for case in report.values():
        case["dir"] = run_dir / "out"
        print(case.get("status"), case.get("seconds"), case.get("message"))
    return report


def trace_of(run_dir: Path) -> list[dict]:
    path = run_dir / "trace.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def rgba(case: dict, entry: dict, key: str = "raw") -> np.ndarray:
    width, height = entry["size"]
    dtype = np.float32 if key == "raw_float" else np.uint8
    return np.frombuffer((case["dir"] / entry[key]).read_bytes(), dtype).reshape(height, width, 4)


def visible(case: dict, key: str) -> np.ndarray:
    width, height = case["canvas"]
    return np.frombuffer((case["dir"] / case[key]).read_bytes(), np.uint8).reshape(height, width, 4).astype(int)


def layer(case: dict, name: str, stage: str = "after") -> dict:
    return next(entry for entry in case[stage] if entry["name"] == name)


def names(case: dict, stage: str = "after") -> list[str]:
    return [entry["name"] for entry in case[stage] if entry["parent"] is None]


def changed(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a[..., :3].astype(int) - b[..., :3].astype(int)).mean())


def assert_untouched(case: dict) -> None:
    """The image exactly as before: same layers, same pixels, same look."""
    assert [(e["name"], e["offsets"], e["size"]) for e in case["after"]] == \
        [(e["name"], e["offsets"], e["size"]) for e in case["before"]]
    for before, after in zip(case["before"], case["after"], strict=True):
        np.testing.assert_array_equal(rgba(case, after), rgba(case, before))
    np.testing.assert_array_equal(visible(case, "visible_after"), visible(case, "visible_before"))


@pytest.fixture(scope="module")
def main_run(gimp, ws):  # noqa: F811
    return run_gimp(gimp, ws, "main", MAIN_CASES, QUICK)


# --- one GIMP run, many images ---------------------------------------------------
def test_two_selected_layers_each_get_their_result_above_them(main_run):
    case = main_run["two_layers"]
    assert case["status"] == "success", case["message"]
    assert names(case) == [f"Small ({STYLE})", "Small", f"Big ({STYLE})", "Big", "Background"]
    for source_name in ("Big", "Small"):
        source, result = layer(case, source_name), layer(case, f"{source_name} ({STYLE})")
        # The result has the source's size and offsets: Big is larger than the canvas and starts outside it.
        assert result["size"] == source["size"] and result["offsets"] == source["offsets"]
        opaque = rgba(case, source)[..., 3] > 0
        diff = changed(rgba(case, result)[opaque], rgba(case, source)[opaque])
        print(f"{source_name}: size {result['size']} offsets {result['offsets']} mean change {diff:.1f}")
        assert diff > 2
        record = result["provenance"]
        assert record["source"] == source_name and record["style"]["file"].endswith(f"{STYLE}.jpg")
        assert record["args"]["strength"] == QUICK["strength"] and record["params"]["size"] == QUICK["size"]
    assert layer(case, "Big")["offsets"] == [-20, -10] and layer(case, "Big")["size"] == [150, 100]


def test_source_alpha_is_kept(main_run):
    case = main_run["two_layers"]
    source, result = layer(case, "Small"), layer(case, f"Small ({STYLE})")
    alpha = rgba(case, source)[..., 3]
    assert (alpha == 0).sum() > 1000 and (alpha == 255).sum() > 1000  # a transparent left half
    np.testing.assert_array_equal(rgba(case, result)[..., 3], alpha)


def test_feathered_elliptical_selection_changes_only_the_selected_area(main_run):
    case = main_run["selection"]
    assert case["status"] == "success", case["message"]
    assert names(case) == [f"Photo ({STYLE})", "Photo", "Background"]
    x1, y1, x2, y2 = case["selection_bounds"]
    result = layer(case, f"Photo ({STYLE})")
    assert result["offsets"] == [x1, y1] and result["size"] == [x2 - x1, y2 - y1]
    mask = np.frombuffer((case["dir"] / result["mask"]).read_bytes(), np.uint8).reshape(y2 - y1, x2 - x1)
    soft = int(((mask > 10) & (mask < 245)).sum())
    assert soft > 50, "a feathered selection gives a mask with soft edges"
    before, after = visible(case, "visible_before"), visible(case, "visible_after")
    outside = np.ones(before.shape[:2], bool)
    outside[y1:y2, x1:x2] = mask == 0
    np.testing.assert_array_equal(after[outside], before[outside])
    cy, cx = (y1 + y2) // 2, (x1 + x2) // 2
    centre = changed(after[cy - 6:cy + 6, cx - 6:cx + 6], before[cy - 6:cy + 6, cx - 6:cx + 6])
    print(f"selection bounds {case['selection_bounds']}, soft mask pixels {soft}, "
          f"unchanged outside {int(outside.sum())} px, mean change at the centre {centre:.1f}")
    assert centre > 2


def test_grey_image(main_run):
    case = main_run["grey"]
    assert case["status"] == "success", case["message"]
    source, result = layer(case, "Photo"), layer(case, f"Photo ({STYLE})")
    assert result["type"] == "graya-image"
    pixels = rgba(case, result)
    np.testing.assert_array_equal(pixels[..., 3], rgba(case, source)[..., 3])  # the transparent corner too
    assert (pixels[..., 3] == 0).sum() == 16 * 12
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert changed(pixels, rgba(case, source)) > 2


def test_16_bit_image_is_read_and_written_in_float(main_run):
    case = main_run["deep"]
    assert case["status"] == "success", case["message"]
    assert case["precision"] == "u16-non-linear"
    source, result = layer(case, "Photo"), layer(case, f"Photo ({STYLE})")
    red = rgba(case, result, "raw_float")[..., 0]
    levels = len(np.unique(red))
    print(f"16-bit result: {levels} distinct red levels (8 bits would allow at most 256)")
    assert levels > 256
    assert changed(rgba(case, result), rgba(case, source)) > 2


def test_layer_group_is_stylized_as_it_looks_and_the_result_goes_above_it(main_run):
    case = main_run["group"]
    assert case["status"] == "success", case["message"]
    assert names(case) == [f"Group ({STYLE})", "Group", "Background"]
    group, result = layer(case, "Group"), layer(case, f"Group ({STYLE})")
    assert result["parent"] is None and not result["group"]
    assert result["size"] == group["size"] and result["offsets"] == group["offsets"]
    assert [e["name"] for e in case["after"] if e["parent"] == "Group"] == ["Inside square", "Inside photo"]
    assert changed(rgba(case, result), rgba(case, group)) > 2


def test_selection_on_a_group_covers_the_selected_part_of_its_projection(main_run):
    case = main_run["group_selection"]
    assert case["status"] == "success", case["message"]
    assert names(case) == [f"Group ({STYLE})", "Group", "Background"]
    result = layer(case, f"Group ({STYLE})")
    assert result["offsets"] == [20, 20] and result["size"] == [40, 30] and result["mask"]
    before, after = visible(case, "visible_before"), visible(case, "visible_after")
    outside = np.ones(before.shape[:2], bool)
    outside[20:50, 20:60] = False
    np.testing.assert_array_equal(after[outside], before[outside])
    assert changed(after[20:50, 20:60], before[20:50, 20:60]) > 2


def test_style_from_a_layer_of_another_open_image(main_run):
    case = main_run["style_layer"]
    assert case["status"] == "success", case["message"]
    result = layer(case, "Photo (Painting)")
    assert result["provenance"]["style"]["layer"] == "Painting"
    assert "file" not in result["provenance"]["style"]
    assert changed(rgba(case, result), rgba(case, layer(case, "Photo"))) > 2


def test_non_interactive_call_with_every_argument(main_run):
    case = main_run["every_argument"]
    assert case["status"] == "success", case["message"]
    result = layer(case, f"Photo ({STYLE})")
    record = result["provenance"]
    assert record["args"] == EVERY_ARGUMENT
    assert record["params"]["preserve_colors"] == "luminance" and record["params"]["style_scale"] == 1.5
    assert result["size"] == layer(case, "Photo")["size"]


def test_a_second_style_is_blended_in_and_remembered(main_run):
    case, single = main_run["two_styles"], main_run["one_style"]
    assert case["status"] == "success", case["message"]
    result = layer(case, f"Photo ({STYLE} + Photo style)")
    record = result["provenance"]
    first, second = record["styles"]
    assert first["file"].endswith(f"{STYLE}.jpg") and first["weight"] == 0.6
    assert second["layer"] == "Photo style" and second["weight"] == 0.4 and "file" not in second
    assert record["style"] == {k: v for k, v in first.items() if k != "weight"}  # as a one-style result has it
    assert record["args"]["second-style-weight"] == 40
    # Same layer, same seed and settings: the second style alone makes the difference.
    alone = layer(single, f"Photo ({STYLE})")
    difference = changed(rgba(case, result), rgba(single, alone))
    print(f"mean change made by blending in the second style: {difference:.1f}")
    assert difference > 1


def test_automatic_detail_is_the_largest_that_finishes_in_the_quality_budget(main_run):
    from nst_server.client import estimate

    case = main_run["auto_detail"]
    assert case["status"] == "success", case["message"]
    source, result = layer(case, "Photo"), layer(case, f"Photo ({STYLE})")
    assert result["size"] == source["size"] == [2400, 1800]
    record = result["provenance"]
    planned, speed, size = record["estimate"], record["estimate"]["speed"], record["params"]["size"]
    assert speed is not None, "the server did not tell the plug-in how fast it is"
    assert record["args"]["size"] == 0 and planned["automatic"]
    budget = estimate.BUDGET_S["preview"]
    print(f"automatic detail {size} px; estimated {planned['seconds']:.1f} s, took {planned['elapsed']:.1f} s "
          f"(budget {budget:.0f} s; server speed {speed})")
    assert size == estimate.auto_detail(speed, 1800, 2400, "preview") <= 2400
    if size < 2400:  # the next larger detail would not have fitted
        assert estimate.estimate_seconds(speed, 1800, 2400, size + estimate.DETAIL_STEP, "preview") > budget
    assert planned["seconds"] <= budget or size == estimate.MIN_DETAIL
    assert planned["elapsed"] < 2.5 * planned["seconds"] + 15  # the estimate the dialog shows is honest


def test_indexed_image_is_refused_with_a_message(main_run):
    case = main_run["indexed"]
    print(case["status"], case["message"])
    assert case["status"] in ("execution-error", "calling-error")
    assert case["message"] and "ndexed" in case["message"]
    assert_untouched(case)


def test_unreadable_style_file_gives_a_message_and_no_layer(main_run):
    case = main_run["bad_style"]
    print(case["message"])
    assert case["status"] == "execution-error"
    assert case["message"].startswith("The style image cannot be read") and "PNG" in case["message"]
    assert_untouched(case)


# --- live preview, Stop, Cancel, kill ------------------------------------------------
def test_live_preview_refreshes_the_new_layer_before_the_result(gimp, ws):  # noqa: F811
    report = run_gimp(gimp, ws, "preview", ["single"], LONG, NST_PLUGIN_TRACE=f"{ws['ws']}/preview/trace.jsonl")
    case = report["single"]
    assert case["status"] == "success", case["message"]
    events = trace_of(gimp.outside(f"{ws['ws']}/preview"))
    kinds = [e["event"] for e in events if e["event"] != "job"]
    print(kinds, f"run {case['seconds']} s")
    assert kinds[0] == "created" and kinds[-1] == "final"
    created = next(e for e in events if e["event"] == "created")
    final = events[-1]
    previews = [e for e in events if e["event"] == "preview"]
    assert previews, "no live preview reached the layer"
    assert all(e["name"] == f"Photo ({STYLE}) (styling…)" for e in [created, *previews])
    assert final["name"] == f"Photo ({STYLE})"
    # The source's transparent corner stays transparent in every preview, as in the result.
    transparent = int((rgba(case, layer(case, "Photo"))[..., 3] == 0).sum())
    assert transparent == 16 * 12
    assert all(e["transparent"] == transparent for e in [created, *previews, final])
    distinct = {e["sha"] for e in previews} - {created["sha"], final["sha"]}
    print(f"{len(previews)} previews, {len(distinct)} distinct from the first and the final pixels")
    assert distinct
    # What the trace saw last is what the image holds.
    import hashlib
    assert hashlib.sha256(rgba(case, layer(case, f"Photo ({STYLE})")).tobytes()).hexdigest() == final["sha"]


def server_log(gimp, ws) -> str:  # noqa: F811
    path = gimp.outside(f"{ws['ws']}/state/server.log")
    return path.read_text() if path.exists() else ""


def test_cancel_leaves_the_image_exactly_as_before(gimp, ws):  # noqa: F811
    report = run_gimp(gimp, ws, "cancel", ["single"], LONG, NST_PLUGIN_TRACE=f"{ws['ws']}/cancel/trace.jsonl",
                      NST_PLUGIN_TEST_PRESS="cancel")
    case = report["single"]
    assert case["status"] == "cancel", case["message"]
    events = trace_of(gimp.outside(f"{ws['ws']}/cancel"))
    print([e["event"] for e in events], f"run {case['seconds']} s")
    assert [e["event"] for e in events if e["event"] in ("preview", "removed", "final")] == ["preview", "removed"]
    assert_untouched(case)
    job = next(e["job"] for e in events if e["event"] == "job")
    assert f"job {job} cancelled" in server_log(gimp, ws)


def test_stop_keeps_the_result_so_far(gimp, ws):  # noqa: F811
    report = run_gimp(gimp, ws, "stop", ["single"], LONG, NST_PLUGIN_TRACE=f"{ws['ws']}/stop/trace.jsonl",
                      NST_PLUGIN_TEST_PRESS="stop")
    case = report["single"]
    assert case["status"] == "success", case["message"]
    events = trace_of(gimp.outside(f"{ws['ws']}/stop"))
    print([e["event"] for e in events], f"run {case['seconds']} s")
    assert [e["event"] for e in events if e["event"] in ("preview", "final")] == ["preview", "final"]
    # Stop ends the job: the result comes right after the press, not after the 600 steps (about 15 s here).
    preview, final = (next(e for e in events if e["event"] == kind) for kind in ("preview", "final"))
    print(f"result {final['t'] - preview['t']:.1f} s after Stop")
    assert final["t"] - preview["t"] < 6
    result = layer(case, f"Photo ({STYLE})")
    assert result["provenance"]["stopped_early"] is True
    assert changed(rgba(case, result), rgba(case, layer(case, "Photo"))) > 2


def test_sigkill_of_the_plug_in_cancels_the_server_job(gimp, ws):  # noqa: F811
    run_dir = prepare(gimp, ws, "kill", ["single"], LONG)
    trace = run_dir / "trace.jsonl"
    process = gimp.popen(gimp_argv(ws), env_for(ws, "kill", NST_PLUGIN_TRACE=f"{ws['ws']}/kill/trace.jsonl"))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(e["event"] == "preview" for e in trace_of(run_dir)):
            assert process.poll() is None, "GIMP ended before the first preview"
            time.sleep(0.2)
        events = trace_of(run_dir)
        pid, job = events[0]["pid"], next(e["job"] for e in events if e["event"] == "job")
        os.kill(pid, signal.SIGKILL)  # what GIMP's status-bar Cancel does to a plug-in
        killed = time.monotonic()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-3000:]
    case = load_report(run_dir)["single"]
    assert case["status"] in ("calling-error", "execution-error")  # "returned no return values"
    assert "final" not in [e["event"] for e in trace_of(run_dir)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and f"job {job} cancelled" not in server_log(gimp, ws):
        time.sleep(0.5)
    print(f"server cancelled the job {time.monotonic() - killed:.1f} s after the kill; layers left: {names(case)}")
    assert f"job {job} cancelled" in server_log(gimp, ws)
    # The unfinished layer is still there (GIMP closed the plug-in's undo group: one undo removes it).
    assert names(case) == [f"Photo ({STYLE}) (styling…)", "Photo", "Background"]
    assert trace.exists()


# --- messages a user can act on ---------------------------------------------------------
def test_weights_missing_names_the_install_command(gimp, ws):  # noqa: F811
    report = run_gimp(gimp, ws, "weights", ["single"], QUICK, NST_PLUGIN_EXTRA_PARAMS='{"backbone": "vgg16"}')
    case = report["single"]
    assert case["status"] == "execution-error"
    assert "VGG16" in case["message"] and "python3 install.py" in case["message"]
    assert_untouched(case)


def test_busy_server_shows_the_queue_position_then_runs_the_job(gimp, ws):  # noqa: F811
    w = ws["ws"]
    busy = gimp.popen(["python3", f"{w}/busy_client.py", f"{w}/profile/plug-ins/style_transfer", f"{w}/{STYLE}.jpg",
                       "10000"], env_for(ws, "busy"))
    run_dir = prepare(gimp, ws, "queued", ["single"], QUICK)
    process = None
    try:
        assert busy.stdout.readline().strip() == "accepted", busy.stderr.read()[-2000:]
        process = gimp.popen(gimp_argv(ws), env_for(ws, "queued", NST_PLUGIN_TRACE=f"{w}/queued/trace.jsonl"))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(e["event"] == "queue" for e in trace_of(run_dir)):
            assert process.poll() is None, "GIMP ended before its job was queued"
            time.sleep(0.2)
    finally:
        busy.kill()  # the other client goes: the server drops its job and runs GIMP's
        busy.wait()
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    case = load_report(run_dir)["single"]
    assert case["status"] == "success", case["message"]
    queue = [e for e in trace_of(run_dir) if e["event"] == "queue"]
    print(queue[:1], f"run {case['seconds']} s")
    assert queue and queue[0]["position"] == 2 and "position 2 in the queue" in queue[0]["text"]


def test_server_that_stops_answering_gives_a_message_and_no_layer(gimp, ws):  # noqa: F811
    from nst_server.client import runtime

    run_dir = prepare(gimp, ws, "frozen", ["single"], LONG)
    process = gimp.popen(gimp_argv(ws), env_for(ws, "frozen", NST_PLUGIN_TRACE=f"{ws['ws']}/frozen/trace.jsonl"))
    server = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(e["event"] == "preview" for e in trace_of(run_dir)):
            assert process.poll() is None, "GIMP ended before the first preview"
            time.sleep(0.2)
        server = runtime.read_runtime_info(gimp.outside(f"{ws['ws']}/workflow/run")).pid
        os.kill(server, signal.SIGSTOP)  # alive but silent, as a hung server would be
        process.communicate(timeout=300)
    finally:
        if server is not None:
            os.kill(server, signal.SIGCONT)
        if process.poll() is None:
            process.kill()
    case = load_report(run_dir)["single"]
    assert case["status"] == "execution-error"
    assert "stopped answering" in case["message"]
    assert_untouched(case)


def test_server_not_installed_names_the_install_command(gimp, ws):  # noqa: F811
    config = gimp.outside(f"{ws['ws']}/profile/plug-ins/style_transfer/server.json")
    saved = config.read_text()
    config.write_text(json.dumps({k: v for k, v in json.loads(saved).items() if k not in ("command", "bridge")}))
    try:  # no server runs in this runtime folder, and the plug-in has no command to start one
        report = run_gimp(gimp, ws, "not-installed", ["single"], QUICK,
                          NST_RUNTIME_DIR=f"{ws['ws']}/not-installed/run")
    finally:
        config.write_text(saved)
    case = report["single"]
    assert case["status"] == "execution-error"
    assert "not installed" in case["message"] and "python3 install.py" in case["message"]
    assert_untouched(case)
