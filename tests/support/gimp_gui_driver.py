"""Drive GUI GIMP on a virtual screen (Xvfb) through gimp_gui_batch.py, as a person would.

Runs where GIMP is (the chroot's python3, standard library only):
``python3 gimp_gui_driver.py RUN_DIR``.  Takes pictures of the plug-in's dialog and
progress window (xwd): first the dialog as a new user sees it on a photo (every
parameter at its default, the estimate shown), closed with Escape; the same on three layers named as
frames and on them with plain names; then presses
Return in the dialog, Stop and then Cancel in the
progress window (keyboard mnemonics, through XTEST like a real keyboard), kills a
plug-in in the middle of a job and presses Ctrl+Z once in the image window.
Writes RUN_DIR/driver.json with what it did.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

run_dir = Path(sys.argv[1])
display = ":77"
env = {**os.environ, "DISPLAY": display}
log = {"steps": []}


def note(text):
    log["steps"].append(f"{time.monotonic() - t0:6.1f}s {text}")
    print(log["steps"][-1], flush=True)


def xdo(*args):
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True).stdout.split()


def wait_window(pattern, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = xdo("search", "--onlyvisible", "--name", pattern)
        if found:
            return found[-1]
        if gimp.poll() is not None:
            raise SystemExit(f"GIMP exited ({gimp.returncode}) while waiting for {pattern!r}")
        time.sleep(0.3)
    raise SystemExit(f"no window {pattern!r} within {timeout} s")


def trace_events(kind):
    path = run_dir / "trace.jsonl"
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == kind]


def wait_for(predicate, what, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def shoot(window, name):
    subprocess.run(["xwd", "-silent", "-id", window, "-out", str(run_dir / name)], env=env, check=True)
    note(f"picture {name}")


def press(window, keys):
    xdo("windowfocus", "--sync", window)
    time.sleep(0.3)
    xdo("key", "--clearmodifiers", keys)
    note(f"pressed {keys}")


t0 = time.monotonic()
xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
gimp = subprocess.Popen(
    [os.environ.get("NST_GIMP_GUI", "gimp-3.0"), "-n", "-s", "--batch-interpreter=python-fu-eval",
     "-b", f"exec(open('{os.environ['NST_GUI_BATCH']}').read())", "--quit"],
    env=env, stdout=open(run_dir / "gimp.log", "w"), stderr=subprocess.STDOUT,
)
try:
    # A new user's dialog on a photo: wait until it says what the result will be and how long it takes.
    dialog = wait_window("^Style Transfer$")
    note(f"defaults: dialog {dialog}")
    wait_for(lambda: any(", in about" in e["text"] for e in trace_events("estimate-shown")), "the estimate")
    time.sleep(1.0)  # let it draw
    shoot(dialog, "defaults-dialog.xwd")
    press(dialog, "Escape")
    wait_for(lambda: (run_dir / "defaults-returned").exists(), "the defaults dialog to close")

    # Three layers named as frames, then with plain names: wait for each dialog's estimate, then Escape.
    for stage, before in (("frames", "defaults-returned"), ("plain", "frames-returned")):
        since = (run_dir / before).stat().st_mtime
        dialog = wait_window("^Style Transfer$")
        note(f"{stage}: dialog {dialog}")
        wait_for(lambda since=since: any(", in about" in e["text"] for e in trace_events("estimate-shown")
                                         if e["t"] > since), f"the {stage} estimate")
        time.sleep(1.0)  # let it draw
        shoot(dialog, f"{stage}-dialog.xwd")
        press(dialog, "Escape")
        wait_for(lambda stage=stage: (run_dir / f"{stage}-returned").exists(), f"the {stage} dialog to close")

    for stage, keys in (("stop", "alt+s"), ("cancel", "alt+c")):
        dialog = wait_window("^Style Transfer$")
        note(f"{stage}: dialog {dialog}")
        time.sleep(2.0)  # let it draw
        shoot(dialog, f"{stage}-dialog.xwd")
        seen = len(trace_events("preview"))
        press(dialog, "Return")
        window = wait_window("^Style Transfer: working$")
        wait_for(lambda seen=seen: len(trace_events("preview")) > seen, "a live preview")
        time.sleep(0.5)
        shoot(window, f"{stage}-progress.xwd")
        press(window, keys)
        wait_for(lambda stage=stage: (run_dir / f"{stage}-returned").exists(), f"the {stage} run to return")

    started = run_dir / "kill-started"
    wait_for(started.exists, "the run to kill")
    since = started.stat().st_mtime

    def previews_since():
        return [e for e in trace_events("preview") if e["t"] > since]

    wait_for(previews_since, "a live preview of the run to kill")
    pid = previews_since()[-1]["pid"]
    os.kill(pid, signal.SIGKILL)
    note(f"killed plug-in {pid}")
    wait_for(lambda: (run_dir / "kill-returned").exists(), "the killed run to return")
    image_window = wait_window("Untitled")
    press(image_window, "ctrl+z")
    time.sleep(2.0)
    (run_dir / "undo-done").write_text("1")
    wait_for(lambda: (run_dir / "multi-returned").exists(), "the two-layer run to return")
    press(image_window, "ctrl+z")
    time.sleep(2.0)
    (run_dir / "multi-undone").write_text("1")
    gimp.wait(timeout=120)
    note(f"GIMP exited {gimp.returncode}")
    log["gimp_exit"] = gimp.returncode
finally:
    if gimp.poll() is None:
        gimp.kill()
    xvfb.terminate()
    (run_dir / "driver.json").write_text(json.dumps(log, indent=1))
