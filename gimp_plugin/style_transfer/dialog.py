"""The dialog of an interactive run: the controls, the estimated time, and the server warming up meanwhile.

While the dialog is open a thread reaches the server (starting it when
needed) and asks how fast it is, so that the estimate line under the output
detail is honest and the run can start at once.  Running the filter on a
result layer offers the settings that made it (its provenance parasite).
"""

import os
import threading
from pathlib import Path

import observer
from failures import PluginError
from gi.repository import Gimp, GLib, GObject
from gimp_io import read_provenance
from layer_job import target_regions
from request import EXTRA_PARAMS_ENV, REMEMBERED_ARGS, STYLE_ARGS, extra_params
from wording import estimate_text

from nst_server.client import connect, errors, server_speed
from nst_server.client.config import PluginConfig
from nst_server.client.params import dialog_specs

SPEED_WAIT_S = 180.0  # the first start on a machine measures the engine's speed: it can take this long


class ServerWarmup:
    """While the dialog is open: reach the server (starting it when needed) and learn its speed.

    Runs in a thread of its own; GIMP is never called from it.  The main thread takes
    the connection over (``take``) once the thread has ended.
    """

    def __init__(self, config: PluginConfig) -> None:
        self.config = config
        self.key = server_speed.server_key(config)
        self.speed = server_speed.remembered(self.key)
        self.fresh = False  # the speed came from the server now, not from the last run
        self.conn = None
        self.error = None
        self.give_up = False
        self.thread = threading.Thread(target=self._work, name="nst-warmup", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            self.conn = connect.open_connection(self.config)
            speed = server_speed.wait(self.conn, SPEED_WAIT_S, still_waiting=lambda _: not self.give_up)
        except errors.ClientError as exc:
            self.error = str(exc)
            return
        except Exception as exc:  # reported when the connection is taken
            self.error = f"{type(exc).__name__}: {exc}"
            return
        if speed is not None:
            self.speed, self.fresh = speed, True
            server_speed.remember(self.key, speed)

    @property
    def waiting(self) -> bool:
        return self.thread.is_alive()

    def take(self, progress, need_speed: bool):
        """The connection, after the thread has ended (it stops asking for the speed unless ``need_speed``)."""
        self.give_up = not need_speed
        while self.thread.is_alive():
            progress.update("Starting the style transfer server..." if self.conn is None
                            else "Asking the style transfer server how fast it is...")
            Gimp.progress_pulse()
            self.thread.join(0.1)
        if self.error is not None:
            raise PluginError(self.error)
        return self.conn

    def close(self) -> None:
        """The dialog was cancelled: stop asking, and close the connection once the thread lets go of it."""
        self.give_up = True
        if not self.thread.is_alive() and self.conn is not None:
            self.conn.close()


class EstimateLabel:
    """The dialog's line with the estimated time for the chosen quality and detail, kept up to date."""

    def __init__(self, label, config, sizes: list[tuple[int, int]], warmup: ServerWarmup,
                 frame_sizes: list[tuple[int, int]] | None = None) -> None:
        self.label, self.config, self.sizes, self.warmup = label, config, sizes, warmup
        self.frame_sizes = frame_sizes or []  # whole layers: frames mode ignores the selection
        try:
            self.precision = extra_params(os.environ.get(EXTRA_PARAMS_ENV)).get("precision", "auto")
        except PluginError:  # the run itself reports a bad value
            self.precision = "auto"
        self.shown = None
        for name in ("preset", "size", "steps", "frames"):
            config.connect(f"notify::{name}", lambda *_: self.refresh())
        self.refresh()
        GLib.timeout_add(300, self._tick)

    def _tick(self) -> bool:
        self.refresh()
        return self.warmup.waiting  # keep polling until the server has answered (or given up)

    def refresh(self) -> None:
        args = {name: self.config.get_property(name) for name in ("preset", "size", "steps")}
        frames = bool(self.config.get_property("frames")) and len(self.frame_sizes) >= 2
        text = estimate_text(self.frame_sizes if frames else self.sizes, args, self.precision, self.warmup.speed,
                             self.warmup.waiting, frames=frames)
        if text != self.shown:
            self.shown = text
            self.label.set_text(text)
            observer.seen("estimate-shown", None, text=text, fresh=self.warmup.fresh,
                          frames=bool(self.config.get_property("frames")), **args)


def fill_dialog(dialog, config=None, image=None, drawables=None, warmup=None) -> None:
    """Style first, then the artist's controls and the estimated time; the second style and seed and steps
    in expanders."""
    try:
        for spec in dialog_specs():
            if spec.slider:
                dialog.get_scale_entry(spec.argument, 1.0)
            elif spec.choices and spec.toggle is None:  # GIMP 3.2 shows up to 3 choices as radio buttons, unlabelled
                dialog.get_widget(spec.argument, GObject.type_from_name("GtkComboBox"))
        dialog.get_scale_entry("second-style-weight", 1.0)
        dialog.get_label("style-hint", "<small>A style layer, when chosen, is used instead of the file.</small>",
                         True, False)
        label = dialog.get_label("estimate", "Result: …", False, False)
        dialog.get_label("second-title", "Blend a second style", False, False)
        dialog.fill_box("second-box", ["second-style-file", "second-style-layer", "second-style-weight"])
        dialog.fill_expander("second", "second-title", False, "second-box")
        dialog.get_label("advanced-title", "Advanced", False, False)
        dialog.fill_box("advanced-box", [spec.argument for spec in dialog_specs("advanced")])
        dialog.fill_expander("advanced", "advanced-title", False, "advanced-box")
        dialog.fill(["style-file", "style-layer", "style-hint", *(spec.argument for spec in dialog_specs("main")),
                     "frames", "estimate", "second", "advanced"])
    except (AttributeError, TypeError):  # an API that differs: every option still shows
        dialog.fill(None)
        return
    if warmup is not None:
        try:
            sizes = [(w, h) for _, (_, _, w, h) in target_regions(image, drawables)]
        except PluginError as exc:
            label.set_text(str(exc))
            return
        frame_sizes = [(d.get_width(), d.get_height()) for d in drawables if isinstance(d, Gimp.Layer)]
        EstimateLabel(label, config, sizes, warmup, frame_sizes)


# --- the settings of a result, offered again ------------------------------------------------
def prefill_from_provenance(config, drawables) -> None:
    """Running the filter on a result layer offers the parameters that made it."""
    record = next((r for r in (read_provenance(d) for d in drawables if isinstance(d, Gimp.Layer)) if r), None)
    if record is None:
        return
    for name, value in record.get("args", {}).items():
        if name in REMEMBERED_ARGS:
            try:
                config.set_property(name, value)
            except (TypeError, ValueError):
                pass
    styles = record.get("styles") or [record.get("style", {})]
    for index, (file_arg, layer_arg) in enumerate(STYLE_ARGS):
        if index < len(styles):
            restore_style(config, file_arg, layer_arg, styles[index])
        else:  # the result had no second style: none is offered
            config.set_property(layer_arg, None)
            config.set_property(file_arg, None)


def restore_style(config, file_arg: str, layer_arg: str, style: dict) -> None:
    """Offer a stored style again: its layer while it exists, else its file while that exists."""
    layer = Gimp.Item.get_by_id(style["layer_id"]) if "layer_id" in style else None
    if isinstance(layer, Gimp.Layer) and layer.is_valid():
        config.set_property(layer_arg, layer)
    elif "file" in style and Path(style["file"]).is_file():
        from gi.repository import Gio
        config.set_property(layer_arg, None)
        config.set_property(file_arg, Gio.File.new_for_path(style["file"]))
