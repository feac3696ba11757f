#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters > Style Transfer > Apply Style...

Each selected layer (a layer group as it looks) is sent with a style image (a
file, or a layer of any open image; optionally a second one blended in) to the
local style transfer server (started on demand).  The output detail is the
dialog's, or automatic: the largest, up to the layer's own size, that the
chosen quality finishes within its time budget on this server, which tells
the plug-in how fast it is; the dialog shows the estimated time before OK.  Its stylized copy appears at once directly above it,
named "... (styling…)", is refreshed from the server's previews, then gets the
final pixels; with a selection it covers only the selection's bounds and
carries a mask made from it.  All of it is one undo group.  In interactive
mode a small window offers Stop (keep the best result so far) and Cancel
(leave the image as it was).  The parameters of each result are stored on its
layer as a parasite, and offered again when the filter runs on that layer.

Runs in GIMP's own Python: standard library, PyGObject and pyzmq only.  pyzmq
is imported inside ``run`` so that a missing module is reported to the user
instead of making the plug-in vanish from the menus.
"""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

PLUGIN_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PLUGIN_DIR))  # install.py puts the client package here

from nst_server.client import config as plugin_config  # noqa: E402  (standard library only)
from nst_server.client import connect, errors, estimate, events, protocol, server_speed  # noqa: E402
from nst_server.client.png import encode_png  # noqa: E402

connect.add_vendor_path(plugin_config.read(PLUGIN_DIR), PLUGIN_DIR)  # pyzmq built for this Python by install.py

PROC_NAME = "plug-in-style-transfer"
PARASITE_NAME = "gimp-style-transfer-parameters"
UNFINISHED = " (styling…)"
PREVIEW_MIN_INTERVAL_S = 1.0  # at most one live-preview refresh a second: GIMP stays smooth
# Arguments stored in the provenance parasite and offered again (the style layer separately).
REMEMBERED_ARGS = ("strength", "preset", "preserve-colors", "style-scale", "seed", "size", "steps",
                   "second-style-weight")
# (file argument, layer argument) of each style: the first, and the optional second one blended in.
STYLE_ARGS = (("style-file", "style-layer"), ("second-style-file", "second-style-layer"))
# Test hooks, read only from the environment: a file that gets one JSON line per change of a
# result layer (read back from GIMP), and "cancel" or "stop" to press that button of the
# progress window (the same functions the buttons call) right after the first live preview.
TRACE_ENV = "NST_PLUGIN_TRACE"
PRESS_ENV = "NST_PLUGIN_TEST_PRESS"
# Expert and documentation hook: JSON of further server parameters (e.g. {"backbone": "vgg16"}).
EXTRA_PARAMS_ENV = "NST_PLUGIN_EXTRA_PARAMS"


class PluginError(Exception):
    """A failure whose message is meant for the user."""


class Cancelled(Exception):
    """The user pressed Cancel: the image is left as it was."""


def server_config() -> plugin_config.PluginConfig:
    """What install.py recorded: how to start the local server, or how to reach a remote one."""
    return plugin_config.read(PLUGIN_DIR) or plugin_config.PluginConfig()


def open_connection(config: plugin_config.PluginConfig):
    """A connection to the server that ``config`` (server.json) names, started when needed.

    Through GIMP's pyzmq (the system's, or the copy install.py built for it),
    or else through the stdio bridge helper (nst_server/client/connect.py decides).
    """
    Gimp.progress_set_text("Style transfer: connecting to the remote server..." if config.remote
                           else "Style transfer: starting the server...")
    try:
        return connect.open_connection(config)
    except errors.ClientError as exc:
        raise PluginError(str(exc)) from None


# --- pixels ------------------------------------------------------------------
def pixel_format(image) -> tuple[str, str]:
    """(babl format, protocol format): float when the image is deeper than 8 bits, so nothing is lost."""
    if image.get_precision().value_nick.startswith("u8"):
        return "R'G'B'A u8", "RGBA8"
    return "R'G'B'A float", "RGBA32F"


def layer_offsets(layer) -> tuple[int, int]:
    offsets = layer.get_offsets()
    return tuple(offsets[-2:])  # (ok, x, y) in GIMP 3.0; tolerate plain (x, y)


def read_region(drawable, x: int, y: int, width: int, height: int, babl_format: str) -> bytes:
    """Pixels of a layer (a group's projection for a group) in layer coordinates."""
    rect = Gegl.Rectangle.new(x, y, width, height)
    return bytes(drawable.get_buffer().get(rect, 1.0, babl_format, Gegl.AbyssPolicy.CLAMP))


def write_pixels(layer, width: int, height: int, babl_format: str, data: bytes) -> None:
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), babl_format, data)
    buffer.flush()
    layer.update(0, 0, width, height)


def scale_nearest(data: bytes, width: int, height: int, channels: int, new_width: int, new_height: int) -> bytes:
    """Nearest-neighbour resize in pure Python (a preview is at most 256 px; rows are reused)."""
    row_bytes = width * channels
    columns = [min(width - 1, (x * width) // new_width) * channels for x in range(new_width)]
    cache: dict[int, bytes] = {}
    rows = []
    for y in range(new_height):
        source_row = min(height - 1, (y * height) // new_height)
        row = cache.get(source_row)
        if row is None:
            start = source_row * row_bytes
            line = data[start:start + row_bytes]
            row = cache[source_row] = b"".join(line[c:c + channels] for c in columns)
        rows.append(row)
    return b"".join(rows)


# --- the style ---------------------------------------------------------------
def read_style_file(gfile):
    path = Path(gfile.get_path())
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise PluginError(f"Cannot read the style image {path}: {exc.strerror or exc}") from None


def read_style(config, file_arg: str = "style-file", layer_arg: str = "style-layer") -> tuple[str, bytes, dict] | None:
    """(name, encoded image, provenance) of one style: its layer when one is set, else its file; None if neither."""
    layer = config.get_property(layer_arg)
    if layer is not None:
        if not layer.is_valid():
            raise PluginError("The style layer no longer exists; choose another one or a style file.")
        width, height = layer.get_width(), layer.get_height()
        rgba = read_region(layer, 0, 0, width, height, "R'G'B'A u8")
        image = layer.get_image()
        origin = {"layer": layer.get_name(), "layer_id": layer.get_id(),
                  "image": image.get_name() if image else None}
        return layer.get_name(), encode_png(width, height, rgba, 4), origin
    gfile = config.get_property(file_arg)
    if gfile is None or gfile.get_path() is None:
        return None
    path, data = read_style_file(gfile)
    return path.stem, data, {"file": str(path)}


def read_styles(config) -> list[tuple[str, bytes, dict]]:
    """The style, and the second style with its blend weights when one is chosen (weights in 'weight')."""
    first = read_style(config, *STYLE_ARGS[0])
    if first is None:
        raise PluginError("Choose a style image (a PNG, JPEG, WebP or TIFF file) or a style layer.")
    second = read_style(config, *STYLE_ARGS[1])
    share = config.get_property("second-style-weight")
    if second is None or share <= 0:
        return [(first[0], first[1], {**first[2], "weight": 1.0})]
    return [(first[0], first[1], {**first[2], "weight": (100 - share) / 100}),
            (second[0], second[1], {**second[2], "weight": share / 100})]


# --- provenance --------------------------------------------------------------
def read_provenance(layer) -> dict | None:
    """The parameters stored on a result layer, or None (also what a script calls)."""
    parasite = layer.get_parasite(PARASITE_NAME)
    if parasite is None:
        return None
    try:
        return json.loads(bytes(parasite.get_data()).decode())
    except (ValueError, UnicodeDecodeError):
        return None


def attach_provenance(layer, record: dict) -> None:
    data = json.dumps(record, sort_keys=True).encode()
    layer.attach_parasite(Gimp.Parasite.new(PARASITE_NAME, Gimp.PARASITE_PERSISTENT | Gimp.PARASITE_UNDOABLE,
                                            list(data)))


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


# --- messages ----------------------------------------------------------------
def user_message(exc) -> str:
    """A server or client failure as a sentence that says what to do."""
    code, text = getattr(exc, "code", ""), str(exc)
    if code == "weights_missing":
        if "install.py" in text:  # the server already says how to provide them
            return text
        return (f"{text} Run 'python3 install.py' to download them, or 'python3 install.py --weights FILE' "
                "with a file downloaded elsewhere.")
    if code == "bad_style_image":
        return f"The style image cannot be read: {text}"  # the server names the formats it reads
    if code == "busy":
        return (f"The style transfer server is busy ({text}). Wait until the other job is done, or cancel it, "
                "then try again.")
    if code in ("stopped", "not_installed", "start_failed"):
        return text
    return f"Style transfer failed: {text}"


# --- Stop and Cancel -----------------------------------------------------------
class JobControl:
    """What the Stop and Cancel buttons do, as plain functions (tests press them the same way)."""

    def __init__(self) -> None:
        self.conn = None
        self.job = None
        self.requested = None  # None, "stop" or "cancel"

    def press_stop(self) -> None:
        """Finish now and keep the best result so far."""
        if self.requested is None:
            self.requested = "stop"
            self._send()

    def press_cancel(self) -> None:
        """Cancel the server's job; the unfinished layers are removed."""
        if self.requested != "cancel":
            self.requested = "cancel"
            self._send()

    def seen(self, job: str) -> None:
        """An event of the current job: learn its id, and send a press that came before it."""
        if self.job is None and job:
            self.job = job
            trace("job", None, job=self.job)
            self._send()

    def _send(self) -> None:
        if self.conn is None or self.job is None or self.requested is None:
            return
        if self.requested == "cancel":
            self.conn.cancel(self.job)
        else:
            self.conn.finish(self.job)


class ProgressWindow:
    """The plug-in's own progress window (interactive mode): a bar, a line of text, Stop and Cancel."""

    STOP = 1

    def __init__(self, control: JobControl) -> None:
        gi.require_version("Gtk", "3.0")
        from gi.repository import Gtk

        self.Gtk = Gtk
        self.control = control
        dialog = self.dialog = GimpUi.Dialog(title="Style Transfer: working", role=PROC_NAME + "-progress")
        dialog.add_button("_Stop", self.STOP)
        dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
        dialog.set_default_size(360, -1)
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=8, border_width=12)
        self.label = Gtk.Label(label="Starting...", xalign=0.0)
        self.bar = Gtk.ProgressBar()
        hint = Gtk.Label(label="Stop keeps the result so far; Cancel leaves the image as it was.", xalign=0.0)
        hint.get_style_context().add_class("dim-label")
        for widget in (self.label, self.bar, hint):
            box.pack_start(widget, False, False, 0)
        dialog.get_content_area().add(box)
        dialog.connect("response", self._on_response)
        dialog.connect("delete-event", self._on_delete)
        dialog.show_all()
        self.pump()

    def _on_response(self, _dialog, response) -> None:
        if response == self.STOP:
            self.control.press_stop()
            self.label.set_text("Stopping: finishing with the result so far...")
        elif response in (self.Gtk.ResponseType.CANCEL, self.Gtk.ResponseType.DELETE_EVENT):
            self.control.press_cancel()
            self.label.set_text("Cancelling...")

    def _on_delete(self, *_args) -> bool:
        self.control.press_cancel()
        return True

    def update(self, text: str, fraction: float | None = None) -> None:
        self.label.set_text(text)
        if fraction is None:
            self.bar.pulse()
        else:
            self.bar.set_fraction(min(1.0, max(0.0, fraction)))
        self.pump()

    def pump(self) -> None:
        while self.Gtk.events_pending():
            self.Gtk.main_iteration_do(False)

    def close(self) -> None:
        self.dialog.destroy()
        self.pump()


class QuietProgress:
    """Non-interactive runs: GIMP's progress only."""

    def update(self, text: str, fraction: float | None = None) -> None:
        pass

    def pump(self) -> None:
        pass

    def close(self) -> None:
        pass


# --- one layer ---------------------------------------------------------------
class Target:
    """One selected layer: the region to stylize, its pixels, and its result layer."""

    def __init__(self, image, source, region, fmt) -> None:
        self.image, self.source = image, source
        self.x, self.y, self.width, self.height = region
        self.fmt = fmt
        self.desc = protocol.ImageDesc(self.width, self.height, fmt[1])
        self.pixels = read_region(source, self.x, self.y, self.width, self.height, fmt[0])
        self.layer = None
        self.alpha = None
        self.name = source.get_name()

    def create_layer(self, final_name: str, with_mask: bool) -> None:
        """The result layer, right away: above the source (a group's result above the group)."""
        image, source = self.image, self.source
        layer_type = (Gimp.ImageType.RGBA_IMAGE if image.get_base_type() == Gimp.ImageBaseType.RGB
                      else Gimp.ImageType.GRAYA_IMAGE)
        self.final_name = final_name
        layer = Gimp.Layer.new(image, final_name + UNFINISHED, self.width, self.height, layer_type, 100.0,
                               Gimp.LayerMode.NORMAL)
        self.layer = layer
        image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
        ox, oy = layer_offsets(source)
        layer.set_offsets(ox + self.x, oy + self.y)
        write_pixels(layer, self.width, self.height, self.fmt[0], self.pixels)
        if with_mask:
            layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        trace("created", layer)

    def show_preview(self, preview, data: bytes) -> None:
        if self.layer is None or not self.layer.is_valid() or not self.source.is_valid():
            return
        scaled = scale_nearest(data, preview.width, preview.height, 3, self.width, self.height)
        if self.alpha is None:  # the source's alpha, so that a cut-out stays cut out while it is styled
            self.alpha = read_region(self.source, self.x, self.y, self.width, self.height, "R'G'B'A u8")[3::4]
        rgba = bytearray(self.width * self.height * 4)
        for channel in range(3):
            rgba[channel::4] = scaled[channel::3]
        rgba[3::4] = self.alpha
        write_pixels(self.layer, self.width, self.height, "R'G'B'A u8", bytes(rgba))
        Gimp.displays_flush()
        trace("preview", self.layer)

    def finish(self, result: bytes, record: dict) -> None:
        if not (self.layer is not None and self.layer.is_valid()):
            raise PluginError(f"The result layer of '{self.name}' was deleted while it was being made.")
        write_pixels(self.layer, self.width, self.height, self.fmt[0], result)
        self.layer.set_name(self.final_name)
        attach_provenance(self.layer, record)
        trace("final", self.layer)

    def remove(self) -> None:
        if self.layer is not None and self.layer.is_valid():
            self.image.remove_layer(self.layer)
            trace("removed", None)
        self.layer = None


def trace(event: str, layer, **extra) -> None:
    """Test hook: what GIMP now holds in the result layer (read back, not what we meant to write)."""
    path = os.environ.get(TRACE_ENV)
    if not path:
        return
    record = {"event": event, "pid": os.getpid(), "t": time.time(), **extra}
    if layer is not None and layer.is_valid():
        pixels = read_region(layer, 0, 0, layer.get_width(), layer.get_height(), "R'G'B'A u8")
        record.update(name=layer.get_name(), sha=hashlib.sha256(pixels).hexdigest(),
                      transparent=pixels[3::4].count(0))
    with open(path, "a") as log:
        log.write(json.dumps(record) + "\n")


def target_regions(image, drawables) -> list[tuple]:
    """(layer, (x, y, width, height)) of each selected layer: the part the selection covers, in layer coordinates."""
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise PluginError("Indexed images cannot be stylized. Convert the image first: "
                          "Image > Mode > RGB (or Grayscale), then try again.")
    layers = [d for d in drawables if isinstance(d, Gimp.Layer)]
    if not layers or len(layers) != len(drawables):
        raise PluginError("Select one or more layers (or layer groups) to stylize; masks and channels cannot be.")
    regions = []
    for layer in layers:
        ok, x, y, width, height = layer.mask_intersect()
        if ok and width > 0 and height > 0:
            regions.append((layer, (x, y, width, height)))
    if not regions:
        raise PluginError("The selection does not touch the selected layers: select an area on them, "
                          "or Select > None to stylize whole layers.")
    return regions


def find_targets(image, drawables) -> tuple[list, bool]:
    """The selected layers to stylize, with the part of each that the selection covers."""
    regions = target_regions(image, drawables)
    fmt = pixel_format(image)
    return [Target(image, layer, region, fmt) for layer, region in regions], not Gimp.Selection.is_empty(image)


# --- output detail and the time it takes ------------------------------------------
def detail_for(width: int, height: int, args: dict, precision: str, speed: dict | None) -> tuple[int, float | None]:
    """(long side to work at, estimated seconds or None) for one layer region: the dialog's detail, or with
    detail 0 the largest the quality finishes within its time budget on this server."""
    size, preset, steps = args["size"], args["preset"], args["steps"]
    if not size:
        if speed is None:  # the server could not say how fast it is: the server's default, at most the layer's size
            size = max(estimate.MIN_DETAIL, min(protocol.PARAMETERS["size"].default, max(width, height)))
        else:
            size = estimate.auto_detail(speed, height, width, preset, steps, precision)
    seconds = None if speed is None else estimate.estimate_seconds(speed, height, width, size, preset, steps, precision)
    return size, seconds


def estimate_text(sizes: list[tuple[int, int]], args: dict, precision: str, speed: dict | None, waiting: bool) -> str:
    """What the dialog says about the chosen quality and detail (``sizes``: width, height of each layer)."""
    automatic = not args["size"]
    if speed is None:
        if waiting:
            return "Estimated time: asking the style transfer server how fast it is…"
        return ("Estimated time: unknown (the server does not say how fast it is)"
                + (f"; automatic detail works at {protocol.PARAMETERS['size'].default} px" if automatic else ""))
    plans = [detail_for(w, h, args, precision, speed) for w, h in sizes]
    seconds = sum(t for _, t in plans if t is not None)
    detail = "/".join(dict.fromkeys(f"{size}" for size, _ in plans)) + " px"
    lead = f"{len(sizes)} layers: " if len(sizes) > 1 else ""
    budget = estimate.BUDGET_S[args["preset"]]
    how = f" (automatic: the most that fits in {estimate.duration(budget)})" if automatic else ""
    return f"Estimated time: {lead}{estimate.describe_seconds(seconds)} at {detail}{how}"


class ServerWarmup:
    """While the dialog is open: reach the server (starting it when needed) and learn its speed.

    Runs in a thread of its own; GIMP is never called from it.  The main thread takes
    the connection over (``take``) once the thread has ended.
    """

    SPEED_WAIT_S = 180.0

    def __init__(self, config: dict) -> None:
        import threading

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
            speed = server_speed.wait(self.conn, self.SPEED_WAIT_S, still_waiting=lambda _: not self.give_up)
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


def server_speed_now(conn, key: str, needed: bool, progress) -> dict | None:
    """The server's speed for a run without the dialog: asked once, waited for when automatic detail needs it."""
    speed = server_speed.ask(conn)
    if speed is None and needed:
        def still_waiting(elapsed: float) -> bool:
            Gimp.progress_set_text("Style transfer: the server is measuring how fast it is (once per machine)...")
            Gimp.progress_pulse()
            progress.pump()
            return True

        speed = server_speed.wait(conn, ServerWarmup.SPEED_WAIT_S, still_waiting=still_waiting)
    if speed is not None:
        server_speed.remember(key, speed)
    return speed


def blended_name(styles) -> str:
    return " + ".join(name for name, _, _ in styles)


def stylize_all(image, targets, has_selection, styles, params, args, progress, control, conn=None) -> int:
    """Every target in turn, each with its live layer; returns how many results were kept.

    ``conn``: a connection the dialog already opened (else one is opened after the first live layer).
    """
    press = os.environ.get(PRESS_ENV)
    config = server_config()
    style_images = [protocol.StyleImage(name, data, origin["weight"]) for name, data, origin in styles]
    style_origin = {k: v for k, v in styles[0][2].items() if k != "weight"}
    precision = params.get("precision", "auto")
    speed = None
    kept = 0
    try:
        for index, target in enumerate(targets):
            if control.requested is not None:
                break  # Stop ends the run after the layer it stopped
            lead = f"Style transfer ({index + 1}/{len(targets)}) " if len(targets) > 1 else "Style transfer "
            target.create_layer(f"{target.name} ({blended_name(styles)})", has_selection)
            Gimp.displays_flush()
            if conn is None:  # after the first layer is there: starting the server can take a while
                progress.update("Starting the style transfer server...")
                conn = open_connection(config)
            if speed is None and index == 0:
                speed = server_speed_now(conn, server_speed.server_key(config), not args["size"], progress)
                trace("connected", None, via="bridge" if connect.uses_bridge(config) else "pyzmq", speed=speed)
            control.conn = conn
            size, seconds = detail_for(target.width, target.height, args, precision, speed)
            job_params = {**params, "size": size}
            planned = f"{size} px" + (f", {estimate.describe_seconds(seconds)}" if seconds is not None else "")
            trace("estimate", None, size=size, seconds=seconds, automatic=not args["size"], speed=speed)
            Gimp.progress_set_text(f"{lead}at {planned}")
            progress.update(f"{lead}at {planned}")
            control.job = None
            last_preview = [0.0]
            started = time.monotonic()

            def on_event(event, lead=lead, target=target, last_preview=last_preview):
                control.seen(event.job)
                if isinstance(event, events.Preview):
                    now = time.monotonic()
                    if now - last_preview[0] >= PREVIEW_MIN_INTERVAL_S and control.requested is None:
                        last_preview[0] = now
                        target.show_preview(event.image, event.pixels)
                    if press == "cancel":
                        control.press_cancel()
                    elif press == "stop":
                        control.press_stop()
                    progress.pump()
                elif isinstance(event, (events.Accepted, events.KeepAlive)) and event.queue_position > 1:
                    text = f"{lead}waiting: the server is busy, position {event.queue_position} in the queue"
                    trace("queue", None, position=event.queue_position, text=text)
                    Gimp.progress_set_text(text)
                    progress.update(text)
                elif isinstance(event, events.Progress):
                    text = f"{lead}step {event.step} of {event.total}"
                    Gimp.progress_set_text(text)
                    Gimp.progress_update(event.fraction)
                    progress.update(text, event.fraction)
                else:
                    Gimp.progress_pulse()
                    progress.pump()

            try:
                result = conn.stylize(target.pixels, target.desc, style_images, job_params, on_event=on_event)
            except errors.ClientError as exc:
                if exc.code == "cancelled" and control.requested == "cancel":
                    raise Cancelled() from None
                raise PluginError(user_message(exc)) from None
            if control.requested == "cancel":  # pressed as the result arrived
                raise Cancelled()
            if not (image.is_valid() and target.source.is_valid()):
                raise PluginError("The layer was closed while it was being stylized.")
            record = {
                "tool": "GIMP Style Transfer", "version": 1, "source": target.name,
                "style": style_origin, "styles": [origin for _, _, origin in styles],
                "params": job_params, "args": args,
                "region": [target.x, target.y, target.width, target.height],
                "stopped_early": control.requested == "stop",
                "estimate": {"seconds": seconds, "automatic": not args["size"], "speed": speed,
                             "elapsed": time.monotonic() - started},
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            target.finish(result, record)
            kept += 1
            Gimp.displays_flush()
    finally:
        if conn is not None:
            conn.close()
    return kept


def run(procedure, run_mode, image, drawables, config, data):
    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    warmup = None
    if interactive:
        GimpUi.init(PROC_NAME)
        prefill_from_provenance(config, drawables)
        warmup = ServerWarmup(server_config())
        dialog = GimpUi.ProcedureDialog.new(procedure, config, "Style Transfer")
        fill_dialog(dialog, config, image, drawables, warmup)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            warmup.close()
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())

    control = JobControl()
    progress = QuietProgress()
    targets = []
    group_open = False
    try:
        targets, has_selection = find_targets(image, drawables)
        styles = read_styles(config)
        args = {name: config.get_property(name) for name in REMEMBERED_ARGS}
        params = {
            "preset": args["preset"],
            "strength": args["strength"],
            "preserve_colors": "luminance" if args["preserve-colors"] else "off",
            "style_scale": args["style-scale"],
            "steps": args["steps"],
            "seed": args["seed"],
        }
        try:
            params.update(json.loads(os.environ.get(EXTRA_PARAMS_ENV) or "{}"))
        except ValueError:
            raise PluginError(f"{EXTRA_PARAMS_ENV} is not valid JSON.") from None
        Gimp.progress_init("Style transfer")
        if interactive:
            progress = ProgressWindow(control)
        image.undo_group_start()  # the live layers too: one undo removes everything, even after a kill
        group_open = True
        conn = warmup.take(progress, need_speed=not args["size"]) if warmup is not None else None
        stylize_all(image, targets, has_selection, styles, params, args, progress, control, conn)
        Gimp.displays_flush()
    except Cancelled:
        for target in targets:
            target.remove()
        Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    except PluginError as exc:
        for target in targets:
            target.remove()  # never leave a half-made layer behind
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(exc)))
    except Exception as exc:  # a bug of ours: still a message, never a silent failure
        for target in targets:
            try:
                target.remove()
            except Exception:
                pass
        message = f"Style transfer failed unexpectedly ({type(exc).__name__}: {exc}). Please report this."
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))
    finally:
        if group_open:
            image.undo_group_end()
        progress.close()
        Gimp.progress_end()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class EstimateLabel:
    """The dialog's line with the estimated time for the chosen quality and detail, kept up to date."""

    def __init__(self, label, config, sizes: list[tuple[int, int]], warmup: ServerWarmup) -> None:
        self.label, self.config, self.sizes, self.warmup = label, config, sizes, warmup
        try:
            self.precision = json.loads(os.environ.get(EXTRA_PARAMS_ENV) or "{}").get("precision", "auto")
        except (ValueError, AttributeError):  # the run itself reports a bad value
            self.precision = "auto"
        self.shown = None
        for name in ("preset", "size", "steps"):
            config.connect(f"notify::{name}", lambda *_: self.refresh())
        self.refresh()
        GLib.timeout_add(300, self._tick)

    def _tick(self) -> bool:
        self.refresh()
        return self.warmup.waiting  # keep polling until the server has answered (or given up)

    def refresh(self) -> None:
        args = {name: self.config.get_property(name) for name in ("preset", "size", "steps")}
        text = estimate_text(self.sizes, args, self.precision, self.warmup.speed, self.warmup.waiting)
        if text != self.shown:
            self.shown = text
            self.label.set_text(text)
            trace("estimate-shown", None, text=text, fresh=self.warmup.fresh, **args)


def fill_dialog(dialog, config=None, image=None, drawables=None, warmup=None) -> None:
    """Style first, then the artist's controls and the estimated time; the second style and seed and steps
    in expanders."""
    try:
        dialog.get_scale_entry("strength", 1.0)
        dialog.get_scale_entry("style-scale", 1.0)
        dialog.get_scale_entry("second-style-weight", 1.0)
        dialog.get_label("style-hint", "<small>A style layer, when chosen, is used instead of the file.</small>",
                         True, False)
        label = dialog.get_label("estimate", "Estimated time: …", False, False)
        dialog.get_label("second-title", "Blend a second style", False, False)
        dialog.fill_box("second-box", ["second-style-file", "second-style-layer", "second-style-weight"])
        dialog.fill_expander("second", "second-title", False, "second-box")
        dialog.get_label("advanced-title", "Advanced", False, False)
        dialog.fill_box("advanced-box", ["seed", "steps"])
        dialog.fill_expander("advanced", "advanced-title", False, "advanced-box")
        dialog.fill(["style-file", "style-layer", "style-hint", "strength", "preset", "preserve-colors", "style-scale",
                     "size", "estimate", "second", "advanced"])
    except (AttributeError, TypeError):  # an API that differs: every option still shows
        dialog.fill(None)
        return
    if warmup is not None:
        try:
            sizes = [(w, h) for _, (_, _, w, h) in target_regions(image, drawables)]
        except PluginError as exc:
            label.set_text(str(exc))
            return
        EstimateLabel(label, config, sizes, warmup)


class StyleTransfer(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False, None, None

    def do_query_procedures(self):
        return [PROC_NAME]

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE
                                       | Gimp.ProcedureSensitivityMask.DRAWABLES)
        procedure.set_menu_label("Apply _Style...")
        procedure.add_menu_path("<Image>/Filters/Style Transfer")
        procedure.set_documentation(
            "Paint the selected layers in the style of an image",
            "Neural style transfer: each selected layer (a group as it looks) is repainted in the style of "
            "an image file or of a layer of any open image, by a local server, and the result is added as "
            "a new layer above it, limited to the selection, in one undo step. The parameters are stored "
            f"on the result in the parasite '{PARASITE_NAME}' (JSON).",
            name,
        )
        procedure.set_attribution("GIMP Style Transfer", "GIMP Style Transfer", "2026")
        flags = GObject.ParamFlags.READWRITE
        spec = protocol.PARAMETERS
        procedure.add_file_argument(
            "style-file", "Style _image", "Image file whose style is transferred (unless a style layer is set)",
            Gimp.FileChooserAction.OPEN, True, None, flags,
        )
        procedure.add_layer_argument(
            "style-layer", "Style la_yer", "A layer of any open image to take the style from; wins over the file",
            True, flags,
        )
        p = spec["strength"]
        procedure.add_int_argument("strength", "Stre_ngth", p.help, p.minimum, p.maximum, p.default, flags)
        presets = Gimp.Choice.new()
        for index, (nick, label) in enumerate((("preview", "Preview (fast)"), ("balanced", "Balanced"),
                                               ("high", "High quality"))):
            presets.add(nick, index, label, "")
        procedure.add_choice_argument("preset", "_Quality", spec["preset"].help, presets, spec["preset"].default, flags)
        procedure.add_boolean_argument("preserve-colors", "Preserve colo_urs",
                                       "keep the layer's colours, take only the style's brush work", False, flags)
        scale = spec["style_scale"]
        procedure.add_double_argument("style-scale", "Style sc_ale", scale.help, scale.minimum, scale.maximum,
                                      scale.default, flags)
        size = spec["size"]
        procedure.add_int_argument(
            "size", "Output _detail (px, 0: automatic)",
            f"{size.help}; 0: the largest, up to the layer's own, that the quality finishes within its time budget "
            "on this server", 0, size.maximum, 0, flags)
        for name, nick in (("seed", "S_eed"), ("steps", "S_teps (0: automatic)")):
            p = spec[name]
            procedure.add_int_argument(name, nick, p.help, p.minimum, p.maximum, p.default, flags)
        procedure.add_file_argument(
            "second-style-file", "Second style _file", "Image file of a second style blended in (optional)",
            Gimp.FileChooserAction.OPEN, True, None, flags,
        )
        procedure.add_layer_argument(
            "second-style-layer", "Second style _layer", "A layer to take the second style from; wins over its file",
            True, flags,
        )
        procedure.add_int_argument("second-style-weight", "Second style's _weight (%)",
                                   "how much of the blend the second style makes, when one is chosen", 0, 100, 50, flags)
        return procedure


Gimp.main(StyleTransfer.__gtype__, sys.argv)
