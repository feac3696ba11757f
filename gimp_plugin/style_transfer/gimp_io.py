"""What the plug-in reads from GIMP and writes back: pixels, the styles, the provenance parasite.

Pixels are read and written through GEGL buffers in layer coordinates; deeper
images than 8 bits go as floats, so nothing is lost.
"""

import json
from pathlib import Path

from failures import PluginError
from gi.repository import Gegl, Gimp
from request import STYLE_ARGS, blend_weights

from nst_server.client.png import encode_png

PARASITE_NAME = "gimp-style-transfer-parameters"


# --- pixels --------------------------------------------------------------------------------
def pixel_format(image) -> tuple[str, str]:
    """(babl format the plug-in reads and writes, with alpha; protocol format it sends, without): float when
    the image is deeper than 8 bits, so nothing is lost."""
    if image.get_precision().value_nick.startswith("u8"):
        return "R'G'B'A u8", "RGB8"
    return "R'G'B'A float", "RGB32F"


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


# --- the styles ----------------------------------------------------------------------------
def read_style_file(gfile) -> tuple[Path, bytes]:
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
    chosen = [first] if second is None else [first, second]
    weights = blend_weights(config.get_property("second-style-weight"), second is not None)
    return [(name, data, {**origin, "weight": weight}) for (name, data, origin), weight in zip(chosen, weights, strict=True)]


# --- provenance ----------------------------------------------------------------------------
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
