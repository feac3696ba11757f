#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters > Style Transfer > Apply Style...

Each selected layer (a layer group as it looks) is sent with a style image (a
file, or a layer of any open image) to the local style transfer server
(started on demand).  Its stylized copy appears at once directly above it,
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
import struct
import sys
import time
import zlib
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

PLUGIN_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PLUGIN_DIR))  # install.py puts the shared nst_server modules here

from nst_server import link, protocol  # noqa: E402  (standard library only)

link.add_vendor_path(PLUGIN_DIR)  # pyzmq built for this Python by install.py, when the system has none

PROC_NAME = "plug-in-style-transfer"
SERVER_CONFIG = PLUGIN_DIR / "server.json"
PARASITE_NAME = "gimp-style-transfer-parameters"
UNFINISHED = " (styling…)"
PREVIEW_MIN_INTERVAL_S = 1.0  # at most one live-preview refresh a second: GIMP stays smooth
# Arguments stored in the provenance parasite and offered again (the style layer separately).
REMEMBERED_ARGS = ("strength", "preset", "preserve-colors", "style-scale", "seed", "size", "steps")
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


def server_config() -> dict:
    """What install.py recorded: how to start the local server, or how to reach a remote one."""
    try:
        return json.loads(SERVER_CONFIG.read_text())
    except (OSError, ValueError):
        return {}


def open_connection(config: dict):
    """A connection to the server that ``config`` (server.json) names, started when needed.

    Through GIMP's pyzmq (the system's, or the copy install.py built for it),
    or else through the stdio bridge helper (nst_server/link.py decides).
    """
    from nst_server import errors

    Gimp.progress_set_text("Style transfer: connecting to the remote server..." if config.get("remote")
                           else "Style transfer: starting the server...")
    try:
        return link.open_connection(config)
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


def encode_png(width: int, height: int, rgba: bytes) -> bytes:
    """An RGBA8 PNG file made with the standard library (a style taken from a layer)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    stride = width * 4
    raw = b"".join(b"\0" + rgba[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


# --- the style ---------------------------------------------------------------
def read_style_file(gfile):
    if gfile is None or gfile.get_path() is None:
        raise PluginError("Choose a style image (a PNG, JPEG, WebP or TIFF file) or a style layer.")
    path = Path(gfile.get_path())
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise PluginError(f"Cannot read the style image {path}: {exc.strerror or exc}") from None


def read_style(config) -> tuple[str, bytes, dict]:
    """(name, encoded image, provenance): the style layer when one is set, else the style file."""
    layer = config.get_property("style-layer")
    if layer is not None:
        if not layer.is_valid():
            raise PluginError("The style layer no longer exists; choose another one or a style file.")
        width, height = layer.get_width(), layer.get_height()
        rgba = read_region(layer, 0, 0, width, height, "R'G'B'A u8")
        image = layer.get_image()
        origin = {"layer": layer.get_name(), "layer_id": layer.get_id(),
                  "image": image.get_name() if image else None}
        return layer.get_name(), encode_png(width, height, rgba), origin
    path, data = read_style_file(config.get_property("style-file"))
    return path.stem, data, {"file": str(path)}


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
    style = record.get("style", {})
    layer = Gimp.Item.get_by_id(style["layer_id"]) if "layer_id" in style else None
    if isinstance(layer, Gimp.Layer) and layer.is_valid():
        config.set_property("style-layer", layer)
    elif "file" in style and Path(style["file"]).is_file():
        from gi.repository import Gio
        config.set_property("style-layer", None)
        config.set_property("style-file", Gio.File.new_for_path(style["file"]))


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

    def seen(self, header: dict) -> None:
        """A message of the current job: learn its id, and send a press that came before it."""
        if self.job is None and header.get("job"):
            self.job = header["job"]
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


def find_targets(image, drawables) -> tuple[list, bool]:
    """The selected layers to stylize, with the part of each that the selection covers."""
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise PluginError("Indexed images cannot be stylized. Convert the image first: "
                          "Image > Mode > RGB (or Grayscale), then try again.")
    layers = [d for d in drawables if isinstance(d, Gimp.Layer)]
    if not layers or len(layers) != len(drawables):
        raise PluginError("Select one or more layers (or layer groups) to stylize; masks and channels cannot be.")
    has_selection = not Gimp.Selection.is_empty(image)
    fmt = pixel_format(image)
    targets = []
    for layer in layers:
        ok, x, y, width, height = layer.mask_intersect()
        if ok and width > 0 and height > 0:
            targets.append(Target(image, layer, (x, y, width, height), fmt))
    if not targets:
        raise PluginError("The selection does not touch the selected layers: select an area on them, "
                          "or Select > None to stylize whole layers.")
    return targets, has_selection


def stylize_all(image, targets, has_selection, style, params, args, progress, control) -> int:
    """Every target in turn, each with its live layer; returns how many results were kept."""
    style_name, style_bytes, style_origin = style
    from nst_server import errors as client  # ClientError for pyzmq and the bridge alike (no pyzmq needed)

    press = os.environ.get(PRESS_ENV)
    kept = 0
    conn = None
    try:
        for index, target in enumerate(targets):
            if control.requested is not None:
                break  # Stop ends the run after the layer it stopped
            lead = f"Style transfer ({index + 1}/{len(targets)}) " if len(targets) > 1 else "Style transfer "
            target.create_layer(f"{target.name} ({style_name})", has_selection)
            Gimp.displays_flush()
            if conn is None:  # after the first layer is there: starting the server can take a while
                progress.update("Starting the style transfer server...")
                conn = control.conn = open_connection(server_config())
            control.job = None
            last_preview = [0.0]

            def on_event(header, lead=lead):
                control.seen(header)
                position = header.get("queue_position", 1)
                if position > 1:
                    text = f"{lead}waiting: the server is busy, position {position} in the queue"
                    trace("queue", None, position=position, text=text)
                    Gimp.progress_set_text(text)
                    progress.update(text)
                elif header["type"] == protocol.PROGRESS:
                    fraction = header["step"] / max(1, header["total"])
                    text = f"{lead}step {header['step']} of {header['total']}"
                    Gimp.progress_set_text(text)
                    Gimp.progress_update(fraction)
                    progress.update(text, fraction)
                else:
                    Gimp.progress_pulse()
                    progress.pump()

            def on_preview(desc, data, target=target, last_preview=last_preview):
                now = time.monotonic()
                if now - last_preview[0] >= PREVIEW_MIN_INTERVAL_S and control.requested is None:
                    last_preview[0] = now
                    target.show_preview(desc, data)
                if press == "cancel":
                    control.press_cancel()
                elif press == "stop":
                    control.press_stop()
                progress.pump()

            try:
                result = conn.stylize(target.pixels, target.desc, [protocol.StyleImage(style_name, style_bytes)],
                                      params, on_event=on_event, on_preview=on_preview)
            except client.ClientError as exc:
                if exc.code == "cancelled" and control.requested == "cancel":
                    raise Cancelled() from None
                raise PluginError(user_message(exc)) from None
            if control.requested == "cancel":  # pressed as the result arrived
                raise Cancelled()
            if not (image.is_valid() and target.source.is_valid()):
                raise PluginError("The layer was closed while it was being stylized.")
            record = {
                "tool": "GIMP Style Transfer", "version": 1, "source": target.name,
                "style": style_origin, "params": params, "args": args,
                "region": [target.x, target.y, target.width, target.height],
                "stopped_early": control.requested == "stop",
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
    if interactive:
        GimpUi.init(PROC_NAME)
        prefill_from_provenance(config, drawables)
        dialog = GimpUi.ProcedureDialog.new(procedure, config, "Style Transfer")
        fill_dialog(dialog)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())

    control = JobControl()
    progress = QuietProgress()
    targets = []
    group_open = False
    try:
        targets, has_selection = find_targets(image, drawables)
        style = read_style(config)
        args = {name: config.get_property(name) for name in REMEMBERED_ARGS}
        params = {
            "preset": args["preset"],
            "strength": args["strength"],
            "preserve_colors": "luminance" if args["preserve-colors"] else "off",
            "style_scale": args["style-scale"],
            "size": args["size"],
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
        stylize_all(image, targets, has_selection, style, params, args, progress, control)
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


def fill_dialog(dialog) -> None:
    """Style first, then the artist's controls; seed and steps in an Advanced expander."""
    try:
        dialog.get_scale_entry("strength", 1.0)
        dialog.get_scale_entry("style-scale", 1.0)
        dialog.get_label("style-hint", "<small>A style layer, when chosen, is used instead of the file.</small>",
                         True, False)
        dialog.get_label("advanced-title", "Advanced", False, False)
        dialog.fill_box("advanced-box", ["seed", "steps"])
        dialog.fill_expander("advanced", "advanced-title", False, "advanced-box")
        dialog.fill(["style-file", "style-layer", "style-hint", "strength", "preset", "preserve-colors", "style-scale", "size",
                     "advanced"])
    except (AttributeError, TypeError):  # an API that differs: every option still shows
        dialog.fill(None)


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
        for name, nick in (("size", "Output _detail (px)"), ("seed", "S_eed"), ("steps", "S_teps (0: automatic)")):
            p = spec[name]
            procedure.add_int_argument(name, nick, p.help, p.minimum, p.maximum, p.default, flags)
        return procedure


Gimp.main(StyleTransfer.__gtype__, sys.argv)
