"""The plug-in's one door for a watcher: nothing is loaded unless ``NST_PLUGIN_OBSERVER`` names a file.

The test suite sets it to its own module (tests/support/plugin_observer.py),
which records what GIMP holds in each result layer and presses Stop or Cancel
as a person would; the product carries none of that code.  The named file may
define ``seen(event, layer, **facts)`` (each change of a result layer, the
connection, the estimate, the job) and ``preview_shown(control)`` (after each
live preview, with the progress window's controls).
"""

import functools
import importlib.util
import os
import sys

OBSERVER_ENV = "NST_PLUGIN_OBSERVER"


@functools.cache
def _watcher():
    """The named watcher module, loaded once; None when none is named."""
    path = os.environ.get(OBSERVER_ENV)
    if not path:
        return None
    spec = importlib.util.spec_from_file_location("nst_plugin_observer", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{OBSERVER_ENV}={path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def seen(event: str, layer, **facts) -> None:
    """Tell the watcher about ``event`` (``layer``: the result layer it changed, or None)."""
    call = getattr(_watcher(), "seen", None)
    if call is not None:
        call(event, layer, **facts)


def preview_shown(control) -> None:
    """Let the watcher act on the progress window's controls once a live preview is shown."""
    call = getattr(_watcher(), "preview_shown", None)
    if call is not None:
        call(control)
