"""The test suite's watcher inside the plug-in, loaded through its door (``NST_PLUGIN_OBSERVER``).

It runs in GIMP's Python beside the plug-in's modules.  Read from the environment:

* ``NST_PLUGIN_TRACE``: a file that gets one JSON line per change of a result
  layer, with what GIMP then holds in it (read back, not what was meant to be
  written), and the job's id, the connection and the estimate;
* ``NST_PLUGIN_TEST_PRESS``: ``cancel`` or ``stop`` presses that button of the
  progress window (the same functions the buttons call) right after a live
  preview; with ``NST_PLUGIN_TEST_PRESS_AFTER`` = n, only once n results are final (e.g. Stop in an
  animation's third frame).
"""

import hashlib
import json
import os
import time

from gimp_io import read_region  # the plug-in's own module: its folder is on the path

TRACE_ENV = "NST_PLUGIN_TRACE"
PRESS_ENV = "NST_PLUGIN_TEST_PRESS"
PRESS_AFTER_ENV = "NST_PLUGIN_TEST_PRESS_AFTER"
finals = 0  # results made final so far in this plug-in process


def seen(event: str, layer, **facts) -> None:
    """One line of the trace file: what GIMP now holds in ``layer`` (None: the event only)."""
    global finals
    finals += event == "final"
    path = os.environ.get(TRACE_ENV)
    if not path:
        return
    record = {"event": event, "pid": os.getpid(), "t": time.time(), **facts}
    if layer is not None and layer.is_valid():
        pixels = read_region(layer, 0, 0, layer.get_width(), layer.get_height(), "R'G'B'A u8")
        record.update(name=layer.get_name(), sha=hashlib.sha256(pixels).hexdigest(),
                      transparent=pixels[3::4].count(0))
    with open(path, "a") as log:
        log.write(json.dumps(record) + "\n")


def preview_shown(control) -> None:
    """Press the button ``NST_PLUGIN_TEST_PRESS`` names, as a person would after seeing a preview."""
    press = os.environ.get(PRESS_ENV)
    if finals < int(os.environ.get(PRESS_AFTER_ENV) or 0):
        return
    if press == "cancel":
        control.press_cancel()
    elif press == "stop":
        control.press_stop()
