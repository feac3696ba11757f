# Runs inside gimp-console-3.0's (or 3.2's) python-fu-eval.
# Builds a test image, calls the plug-in through the PDB, and reports what happened.
# The spec comes from spec.json beside this file; the report goes to out/report.json.
import json
import os
from pathlib import Path

from gi.repository import Gegl, Gimp, Gio

here = Path(os.environ["NST_E2E_DIR"])
spec = json.loads((here / "spec.json").read_text())
out = Path(spec["out"])
out.mkdir(parents=True, exist_ok=True)


def pixels(layer):
    rect = Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height())
    return bytes(layer.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP))


def describe(image, stage):
    result = []
    for index, layer in enumerate(image.get_layers()):
        offsets = layer.get_offsets()
        (out / f"{stage}-layer{index}.raw").write_bytes(pixels(layer))
        result.append({"name": layer.get_name(), "offsets": list(offsets[-2:]),
                       "size": [layer.get_width(), layer.get_height()], "raw": f"{stage}-layer{index}.raw"})
    return result


width, height = spec["canvas"]
image = Gimp.Image.new(width, height, Gimp.ImageBaseType.RGB)
background = Gimp.Layer.new(image, "Background", width, height, Gimp.ImageType.RGB_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
image.insert_layer(background, None, 0)
background.fill(Gimp.FillType.WHITE)
source = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(spec["content"]))
source.set_name("Photo")
image.insert_layer(source, None, 0)
source.set_offsets(*spec["offsets"])
top = Gimp.Layer.new(image, "Top", 10, 10, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
image.insert_layer(top, None, 0)
(out / "source_before.raw").write_bytes(pixels(source))
layers_before = describe(image, "before")

procedure = Gimp.get_pdb().lookup_procedure("plug-in-style-transfer")
config = procedure.create_config()
config.set_property("image", image)
config.set_core_object_array("drawables", [source])
config.set_property("style-file", Gio.File.new_for_path(spec["style"]))
for name, value in spec["params"].items():
    config.set_property(name, value)
result = procedure.run(config)
status = result.index(0)
message = result.index(1) if result.length() > 1 else None

report = {
    "status": status.value_nick,
    "message": None if message is None else str(getattr(message, "message", message)),
    "layers_before": layers_before,
    "layers_after": describe(image, "after"),
    "source_after": "source_after.raw",
}
(out / "source_after.raw").write_bytes(pixels(source))
(out / "report.json").write_text(json.dumps(report, indent=2))
image.delete()
