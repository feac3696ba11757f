# The part the GIMP batch scripts (gimp_workflow_batch.py, gimp_frames_batch.py) share: this run's spec.json
# (beside NST_E2E_DIR) and its out folder, the call of plug-in-style-transfer the way a script makes it, and
# the report of what an image holds, layer by layer, for the tests to compare.  Runs inside gimp-console's (or
# GUI GIMP's) python-fu-eval: each batch script runs it with exec() in a namespace of its own, from the copy
# the test placed beside the script (NST_LAYER_REPORT), and takes the names it needs from there.
import hashlib
import json
import os
import time
from pathlib import Path

from gi.repository import Gegl, Gimp, Gio

here = Path(os.environ["NST_E2E_DIR"])
spec = json.loads((here / "spec.json").read_text())
out = Path(spec["out"])
out.mkdir(parents=True, exist_ok=True)
PARASITE = "gimp-style-transfer-parameters"


def call(image, drawables, **overrides):
    """plug-in-style-transfer on ``drawables`` with the spec's parameters and ``overrides``: its status, the
    seconds it took and its message."""
    procedure = Gimp.get_pdb().lookup_procedure("plug-in-style-transfer")
    config = procedure.create_config()
    config.set_property("image", image)
    config.set_core_object_array("drawables", drawables)
    config.set_property("style-file", Gio.File.new_for_path(spec["style"]))
    for name, value in {**spec["params"], **overrides}.items():
        config.set_property(name, value)
    started = time.monotonic()
    result = procedure.run(config)
    message = result.index(1) if result.length() > 1 else None
    return {"status": result.index(0).value_nick, "seconds": round(time.monotonic() - started, 2),
            "message": None if message is None else str(getattr(message, "message", message))}


def pixels(drawable, fmt="R'G'B'A u8"):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP))


def save(name, data):
    (out / name).write_bytes(data)
    return name


def describe(image, prefix):
    """Every layer (groups' children too) in stack order, top first: where it is, its pixels (a raw file and
    their hash; floats too in an image deeper than 8 bits), its mask and its provenance."""
    result = []
    deep = not image.get_precision().value_nick.startswith("u8")

    def walk(items, parent):
        for layer in items:
            stem = f"{prefix}-{len(result)}"
            data = pixels(layer)
            entry = {
                "name": layer.get_name(), "parent": parent, "offsets": list(layer.get_offsets()[-2:]),
                "size": [layer.get_width(), layer.get_height()], "visible": bool(layer.get_visible()),
                "group": bool(layer.is_group()), "type": layer.type().value_nick,
                "raw": save(f"{stem}.raw", data), "sha": hashlib.sha256(data).hexdigest(),
                "mask": None, "provenance": None,
            }
            if deep:
                entry["raw_float"] = save(f"{stem}-float.raw", pixels(layer, "R'G'B'A float"))
            mask = layer.get_mask()
            if mask is not None:
                entry["mask"] = save(f"{stem}-mask.raw", pixels(mask, "Y u8"))
            parasite = layer.get_parasite(PARASITE)
            if parasite is not None:
                entry["provenance"] = json.loads(bytes(parasite.get_data()).decode())
            result.append(entry)
            if layer.is_group():
                walk(layer.get_children(), layer.get_name())

    walk(image.get_layers(), None)
    return result
