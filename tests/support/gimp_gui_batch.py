# Runs inside GUI GIMP's python-fu-eval (gimp-3.0 or -3.2 on a virtual screen, driven by gimp_gui_driver.py).
# 0. an INTERACTIVE run on a photo, only the style given, in a profile where the plug-in never ran:
#    the dialog at its defaults, which the driver photographs and closes with Escape;
#    then on three layers named as an animation's frames, and again once they have plain names: the driver
#    waits for the estimate and closes each dialog with Escape;
# 1. a non-interactive run makes a result layer (with its provenance parasite);
# 2. an INTERACTIVE run on that result layer: the dialog (prefilled from the parasite) and the
#    progress window, whose Stop the driver presses;
# 3. an INTERACTIVE run again, whose Cancel the driver presses;
# 4. a non-interactive run whose plug-in the driver kills; the driver then presses Ctrl+Z in the
#    image window once, and this script looks at the image again;
# 5. a non-interactive run on two layers, then one Ctrl+Z.
import json
import os
import time
from pathlib import Path

from gi.repository import Gimp, Gio

here = Path(os.environ["NST_E2E_DIR"])
exec(open(Path(os.environ["NST_WORKFLOW_BATCH"])).read())  # helpers; its spec lists no cases
spec = json.loads((here / "spec.json").read_text())
report = {}


def mark(name):
    (here / name).write_text("1")


def wait_mark(name, timeout=300):
    deadline = time.monotonic() + timeout
    while not (here / name).exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def interactive(image, drawables, style=None):
    procedure = Gimp.get_pdb().lookup_procedure("plug-in-style-transfer")
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", drawables)
    if style is not None:
        config.set_property("style-file", Gio.File.new_for_path(style))
    result = procedure.run(config)
    message = result.index(1) if result.length() > 1 else None
    return {"status": result.index(0).value_nick,
            "message": None if message is None else str(getattr(message, "message", message))}


photo = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["defaults_photo"]))
display = Gimp.Display.new(photo)
Gimp.displays_flush()
report["defaults"] = interactive(photo, photo.get_layers(), style=spec["style"])
mark("defaults-returned")
display.delete()  # the image goes with its only display

# Three layers named as frames: the dialog checks Animation frames by itself; then plain names: it does not.
frames_image = Gimp.Image.new(*spec["frames_size"], Gimp.ImageBaseType.RGB)
frame_layers = []
for index in range(3):
    layer = Gimp.Layer.new(frames_image, f"Frame {index + 1} (100ms) (replace)", *spec["frames_size"],
                           Gimp.ImageType.RGB_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    frames_image.insert_layer(layer, None, 0)
    layer.fill(Gimp.FillType.WHITE)
    frame_layers.append(layer)
display = Gimp.Display.new(frames_image)
Gimp.displays_flush()
for stage in ("frames", "plain"):
    if stage == "plain":
        for index, layer in enumerate(frame_layers):
            layer.set_name(f"Layer {index + 1}")
    opened = time.time()
    report[stage] = {**interactive(frames_image, frame_layers, style=spec["style"]), "opened": opened,
                     "closed": time.time()}
    mark(f"{stage}-returned")
display.delete()

image, drawables, _ = case_single()  # noqa: F821  (from the workflow batch)
Gimp.Display.new(image)
Gimp.displays_flush()
first = call(image, drawables, **spec["every_argument"])  # noqa: F821
styled = image.get_layers()[0]
report["first"] = first

for stage in ("stop", "cancel"):
    before = describe(image, f"{stage}-before")  # noqa: F821
    result = interactive(image, [styled])
    report[stage] = {**result, "before": before, "after": describe(image, f"{stage}-after"),  # noqa: F821
                     "canvas": [image.get_width(), image.get_height()]}
    mark(f"{stage}-returned")

# Filters > Repeat: the last values of the interactive run, nothing else given.
procedure = Gimp.get_pdb().lookup_procedure("plug-in-style-transfer")
config = procedure.create_config()
config.set_property("run-mode", Gimp.RunMode.WITH_LAST_VALS)
config.set_property("image", image)
config.set_core_object_array("drawables", [drawables[0]])
result = procedure.run(config)
message = result.index(1) if result.length() > 1 else None
report["repeat"] = {"status": result.index(0).value_nick, "after": describe(image, "repeat-after"),  # noqa: F821
                    "message": None if message is None else str(getattr(message, "message", message))}
# The repeat's result goes; the kill run starts from the image as before.
image.remove_layer(image.get_layers()[image.get_item_position(drawables[0]) - 1])

before = describe(image, "kill-before")  # noqa: F821
mark("kill-started")
result = call(image, [drawables[0]], **spec["long"])  # noqa: F821
during = describe(image, "kill-during")  # noqa: F821
mark("kill-returned")
wait_mark("undo-done")
report["kill"] = {**result, "before": before, "during": during, "after": describe(image, "kill-after")}  # noqa: F821

# Two layers at once, then one Ctrl+Z.
background = image.get_layers()[-1]
before = describe(image, "multi-before")  # noqa: F821
result = call(image, [drawables[0], background], steps=3)  # noqa: F821
during = describe(image, "multi-during")  # noqa: F821
mark("multi-returned")
wait_mark("multi-undone")
report["multi"] = {**result, "before": before, "during": during, "after": describe(image, "multi-after")}  # noqa: F821
(out / "report.json").write_text(json.dumps(report, indent=1))  # noqa: F821
