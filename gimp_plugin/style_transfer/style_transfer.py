#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters > Style Transfer > Apply Style...

Reads the selected layer, sends it with a style image to the local style
transfer server (started on demand), follows its progress, and inserts the
result as a new layer directly above the source, as one undo step.

Runs in GIMP's own Python: standard library, PyGObject and pyzmq only.  pyzmq
is imported inside ``run`` so that a missing module is reported to the user
instead of making the plug-in vanish from the menus.
"""

import json
import sys
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

PLUGIN_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PLUGIN_DIR))  # install.py puts the shared nst_server modules here

from nst_server import protocol  # noqa: E402  (standard library only)

PROC_NAME = "plug-in-style-transfer"
SERVER_CONFIG = PLUGIN_DIR / "server.json"
PIXEL_FORMAT = ("R'G'B'A u8", "RGBA8")  # (babl format, protocol format)


class PluginError(Exception):
    """A failure whose message is meant for the user."""


def server_config():
    """What install.py recorded: how to start the local server, or how to reach a remote one."""
    try:
        return json.loads(SERVER_CONFIG.read_text())
    except (OSError, ValueError):
        return {}


def read_style_file(gfile):
    if gfile is None or gfile.get_path() is None:
        raise PluginError("Choose a style image (a PNG, JPEG, WebP or TIFF file).")
    path = Path(gfile.get_path())
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise PluginError(f"Cannot read the style image {path}: {exc.strerror or exc}") from None


def layer_offsets(layer):
    offsets = layer.get_offsets()
    return tuple(offsets[-2:])  # (ok, x, y) in GIMP 3.0; tolerate plain (x, y)


def read_pixels(layer):
    width, height = layer.get_width(), layer.get_height()
    rect = Gegl.Rectangle.new(0, 0, width, height)
    data = layer.get_buffer().get(rect, 1.0, PIXEL_FORMAT[0], Gegl.AbyssPolicy.CLAMP)
    return protocol.ImageDesc(width, height, PIXEL_FORMAT[1]), bytes(data)


def stylize_on_server(desc, pixels, style_path, style_bytes, params):
    try:
        import zmq  # noqa: F401
    except ImportError:
        raise PluginError(
            "GIMP's Python cannot import pyzmq, which the plug-in needs to talk to the server. "
            "On Debian or Ubuntu: 'sudo apt install python3-zmq'; then run 'python3 install.py' again."
        ) from None
    from nst_server import client, runtime

    config = server_config()
    try:
        if config.get("remote"):
            Gimp.progress_init("Style transfer: connecting to the remote server...")
            conn = client.connect_remote(runtime.RuntimeInfo.from_json(config["remote"]))
        else:
            Gimp.progress_init("Style transfer: starting the server...")
            conn = client.connect(config.get("command"))
    except client.ClientError as exc:
        raise PluginError(str(exc)) from None

    def on_event(header):
        if header.get("queue_position", 1) > 1:
            Gimp.progress_set_text(f"Style transfer: waiting, position {header['queue_position']} in the queue")
        elif header["type"] == protocol.PROGRESS:
            Gimp.progress_set_text(f"Style transfer: step {header['step']} of {header['total']}")
            Gimp.progress_update(header["step"] / max(1, header["total"]))
        else:
            Gimp.progress_pulse()

    try:
        with conn:
            Gimp.progress_set_text("Style transfer: preparing...")
            style = protocol.StyleImage(style_path.name, style_bytes)
            return conn.stylize(pixels, desc, [style], params, on_event=on_event)
    except client.ClientError as exc:
        raise PluginError(f"Style transfer failed: {exc}") from None


def insert_result(image, source, desc, pixels, name):
    """The new layer directly above ``source``, same size and offsets, in one undo group."""
    image.undo_group_start()
    layer = None
    try:
        layer = Gimp.Layer.new(
            image, name, desc.width, desc.height,
            Gimp.ImageType.RGBA_IMAGE if image.get_base_type() == Gimp.ImageBaseType.RGB
            else Gimp.ImageType.GRAYA_IMAGE,
            100.0, Gimp.LayerMode.NORMAL,
        )
        image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
        layer.set_offsets(*layer_offsets(source))
        buffer = layer.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, desc.width, desc.height), PIXEL_FORMAT[0], pixels)
        buffer.flush()
        layer.update(0, 0, desc.width, desc.height)
    except Exception as exc:
        if layer is not None and layer.is_valid():
            image.remove_layer(layer)  # never leave a half-made layer behind
        raise PluginError(f"Could not add the stylized layer: {exc}") from None
    finally:
        image.undo_group_end()
    return layer


def run(procedure, run_mode, image, drawables, config, data):
    if run_mode == Gimp.RunMode.INTERACTIVE:
        GimpUi.init(PROC_NAME)
        dialog = GimpUi.ProcedureDialog.new(procedure, config, "Style Transfer")
        dialog.fill(None)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())

    try:
        if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
            raise PluginError("Select exactly one layer to stylize.")
        source = drawables[0]
        style_path, style_bytes = read_style_file(config.get_property("style-file"))
        params = {
            "preset": config.get_property("preset"),
            "strength": config.get_property("strength"),
            "preserve_colors": "luminance" if config.get_property("preserve-colors") else "off",
            "style_scale": config.get_property("style-scale"),
            "size": config.get_property("size"),
            "steps": config.get_property("steps"),
            "seed": config.get_property("seed"),
        }
        desc, pixels = read_pixels(source)
        result = stylize_on_server(desc, pixels, style_path, style_bytes, params)
        if not (image.is_valid() and source.is_valid()):
            raise PluginError("The layer was closed while it was being stylized.")
        insert_result(image, source, desc, result, f"{source.get_name()} ({style_path.stem})")
        Gimp.displays_flush()
    except PluginError as exc:
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(exc)))
    except Exception as exc:  # a bug of ours: still a message, never a silent failure
        message = f"Style transfer failed unexpectedly ({type(exc).__name__}: {exc}). Please report this."
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))
    finally:
        Gimp.progress_end()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class StyleTransfer(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False, None, None

    def do_query_procedures(self):
        return [PROC_NAME]

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Apply _Style...")
        procedure.add_menu_path("<Image>/Filters/Style Transfer")
        procedure.set_documentation(
            "Paint the layer in the style of an image",
            "Neural style transfer: the selected layer is repainted in the style of the chosen image "
            "by a local server, and the result is added as a new layer above it.",
            name,
        )
        procedure.set_attribution("GIMP Style Transfer", "GIMP Style Transfer", "2026")
        flags = GObject.ParamFlags.READWRITE
        spec = protocol.PARAMETERS
        procedure.add_file_argument(
            "style-file", "Style _image", "Image whose style is transferred",
            Gimp.FileChooserAction.OPEN, False, None, flags,
        )
        presets = Gimp.Choice.new()
        for index, (nick, label) in enumerate((("preview", "Preview (fast)"), ("balanced", "Balanced"),
                                               ("high", "High quality"))):
            presets.add(nick, index, label, "")
        procedure.add_choice_argument("preset", "_Quality", spec["preset"].help, presets, spec["preset"].default, flags)
        for name, nick in (("strength", "St_rength"), ("size", "Si_ze"), ("steps", "S_teps (0: automatic)"),
                           ("seed", "S_eed")):
            p = spec[name]
            procedure.add_int_argument(name, nick, p.help, p.minimum, p.maximum, p.default, flags)
        scale = spec["style_scale"]
        procedure.add_double_argument("style-scale", "Style sc_ale", scale.help, scale.minimum, scale.maximum,
                                      scale.default, flags)
        procedure.add_boolean_argument("preserve-colors", "Preserve _colours",
                                       "keep the layer's colours, take only the style's brush work", False, flags)
        return procedure


Gimp.main(StyleTransfer.__gtype__, sys.argv)
