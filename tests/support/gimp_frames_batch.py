# Runs inside gimp-console-3.0's (or 3.2's) python-fu-eval (Gimp, Gegl, Gio, GLib are given).
# Builds the frame stacks of the cases named in spec.json (beside this run's NST_E2E_DIR), calls
# plug-in-style-transfer with frames=True the way a script would, and writes what GIMP then holds (the
# source image before and after, and every image the call made, as gimp_layer_report.py describes them) to
# out/report.json (+ raw pixel files).
import json
import os

from gi.repository import Gimp, Gio

shared = {}
exec(open(os.environ["NST_LAYER_REPORT"]).read(), shared)  # the spec, the call, the report
spec, out, describe, call = (shared[name] for name in ("spec", "out", "describe", "call"))
W, H = 96, 64


def frame_name(index):
    return f"Frame {index + 1} ({spec['delays'][index]}ms) (replace)"


def frame_stack():
    """Five frames of a pan (bottom: frame 1) and an unselected title layer on top; the frames are selected
    in another order than the stack's."""
    image = Gimp.Image.new(W, H, Gimp.ImageBaseType.RGB)
    frames = []
    for index, path in enumerate(spec["frames"]):
        layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path))
        layer.set_name(frame_name(index))
        image.insert_layer(layer, None, 0)
        frames.append(layer)
    title = Gimp.Layer.new(image, "Title", 40, 10, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(title, None, 0)
    title.fill(Gimp.FillType.WHITE)
    title.set_offsets(4, 4)
    return image, frames


def clear_corner(image, layer):
    """A transparent corner (the frames lie at the image's origin)."""
    layer.add_alpha()
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 0, 16, 12)
    layer.edit_clear()
    Gimp.Selection.none(image)


def case_frames():
    """Frame 4 has a transparent corner: a (replace) frame's transparency is its own, not a partial frame."""
    image, frames = frame_stack()
    clear_corner(image, frames[3])
    return image, [frames[i] for i in (2, 0, 4, 1, 3)]


def case_partial():
    """An optimized GIF's frames 1-3 are drawn over the frames below them ("(combine)"): Frame 3 has a transparent
    corner (a partial frame), Frame 2 an alpha channel but no transparent pixel, and the bottom Frame 1 a
    transparent corner too (drawn over nothing: whole)."""
    image, frames = frame_stack()
    for index in (0, 1, 2):
        frames[index].set_name(frame_name(index).replace("(replace)", "(combine)"))
    frames[1].add_alpha()
    clear_corner(image, frames[0])
    clear_corner(image, frames[2])
    return image, frames


def case_sizes():
    image, frames = frame_stack()
    frames[3].scale(80, 60, False)
    return image, frames


def case_hidden():
    image, frames = frame_stack()
    frames[1].set_visible(False)
    return image, frames


def case_group():
    image, frames = frame_stack()
    group = Gimp.GroupLayer.new(image, "Walk cycle")
    image.insert_layer(group, None, 0)
    return image, [*frames, group]


def case_inside():
    image, frames = frame_stack()
    group = Gimp.GroupLayer.new(image, "Walk")
    image.insert_layer(group, None, 0)
    image.reorder_item(frames[2], group, 0)
    return image, frames


def case_stop():
    return frame_stack()


case_cancel = case_chained = case_independent = case_stop
FRAMES = {"independent": False}  # frames=True unless said here


def export_and_reload(image, name, procedure_name, options):
    """Export the animation with GIMP's own exporter, load it back: the frame names it reads."""
    path = out / name
    procedure = Gimp.get_pdb().lookup_procedure(procedure_name)
    config = procedure.create_config()
    known = {p.name for p in config.list_properties()}
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_property("file", Gio.File.new_for_path(str(path)))
    for key, value in options.items():
        if key in known:
            config.set_property(key, value)
    result = procedure.run(config)
    status = result.index(0).value_nick
    if status != "success":
        return {"status": status, "message": str(result.index(1)) if result.length() > 1 else None}
    loaded = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(str(path)))
    names = [layer.get_name() for layer in loaded.get_layers()]
    loaded.delete()
    return {"status": status, "names": names}


reports = {}
for case in spec["cases"]:
    try:
        image, drawables = globals()[f"case_{case}"]()
        before_ids = {i.get_id() for i in Gimp.get_images()}
        report = {"before": describe(image, f"{case}-before")}
        report.update(call(image, drawables, frames=FRAMES.get(case, True)))
        report["after"] = describe(image, f"{case}-after")
        new = [i for i in Gimp.get_images() if i.get_id() not in before_ids]
        report["new_images"] = [{"layers": describe(i, f"{case}-new{n}"), "size": [i.get_width(), i.get_height()],
                                 "undo_enabled": bool(i.undo_is_enabled())} for n, i in enumerate(new)]
        if case == "frames" and len(new) == 1 and spec.get("export"):
            report["gif"] = export_and_reload(new[0], "frames.gif", "file-gif-export",
                                              {"as-animation": True, "loop": True})
            report["webp"] = export_and_reload(new[0], "frames.webp", "file-webp-export", {"animation": True})
        reports[case] = report
    except Exception as exc:  # a failure of the test harness itself: report it, keep going
        reports[case] = {"status": "harness-error", "message": f"{type(exc).__name__}: {exc}"}
    (out / "report.json").write_text(json.dumps(reports, indent=1))
    for image in Gimp.get_images():
        image.delete()
