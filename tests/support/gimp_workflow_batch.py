# Runs inside gimp-console-3.0's (or 3.2's) python-fu-eval (Gimp, Gegl, Gio, GLib are given).
# Builds the images of the workflow cases named in spec.json (beside this run's NST_E2E_DIR),
# calls plug-in-style-transfer through the PDB the way a script would, and writes what GIMP
# ends up holding (as gimp_layer_report.py describes it) to out/report.json (+ raw pixel files).
import json
import os

from gi.repository import Gimp, Gio

shared = {}
exec(open(os.environ["NST_LAYER_REPORT"]).read(), shared)  # the spec, the call, the report
spec, out, pixels, save, describe, call = (shared[name] for name in ("spec", "out", "pixels", "save", "describe", "call"))
W, H = 64, 48


def visible(image, name):
    """The image as it looks (all layers composited), saved raw at canvas size."""
    layer = Gimp.Layer.new_from_visible(image, image, "visible")
    data = pixels(layer)
    layer.delete()
    return save(name, data)


def add_layer(image, name, width, height, offsets, parent=None, alpha=True, load=None):
    if load:
        layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(load))
        layer.set_name(name)
    else:
        kind = Gimp.ImageType.RGBA_IMAGE if alpha else Gimp.ImageType.RGB_IMAGE
        if image.get_base_type() == Gimp.ImageBaseType.GRAY:
            kind = Gimp.ImageType.GRAYA_IMAGE if alpha else Gimp.ImageType.GRAY_IMAGE
        layer = Gimp.Layer.new(image, name, width, height, kind, 100.0, Gimp.LayerMode.NORMAL)
        layer.fill(Gimp.FillType.WHITE)
    image.insert_layer(layer, parent, 0)
    if (layer.get_width(), layer.get_height()) != (width, height):
        layer.scale(width, height, False)  # only once it is in the image
    layer.set_offsets(*offsets)
    return layer


def new_image(width, height, base=Gimp.ImageBaseType.RGB, precision=None):
    if precision is None:
        image = Gimp.Image.new(width, height, base)
    else:
        image = Gimp.Image.new_with_precision(width, height, base, precision)
    background = add_layer(image, "Background", width, height, (0, 0), alpha=False)
    background.fill(Gimp.FillType.WHITE)
    return image


def run_case(name, image, drawables, **overrides):
    report = {"before": describe(image, f"{name}-before"), "visible_before": visible(image, f"{name}-vis-before.raw")}
    bounds = Gimp.Selection.bounds(image)
    report["selection_bounds"] = list(bounds[-4:]) if bounds[1] else None  # x1, y1, x2, y2
    report.update(call(image, drawables, **overrides))
    report["after"] = describe(image, f"{name}-after")
    report["visible_after"] = visible(image, f"{name}-vis-after.raw")
    report["canvas"] = [image.get_width(), image.get_height()]
    return report


# --- the cases -----------------------------------------------------------------
def case_two_layers():
    """Two selected layers: one larger than the canvas at negative offsets, one with a transparent half."""
    image = new_image(120, 90)
    big = add_layer(image, "Big", 150, 100, (-20, -10), load=spec["content"])
    small = add_layer(image, "Small", W, H, (50, 36), load=spec["content"])
    small.add_alpha()
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 50, 36, W // 2, H)  # left half of Small: transparent
    small.edit_clear()
    Gimp.Selection.none(image)
    return image, [big, small], {}


def case_selection():
    """An elliptical, feathered selection: only it changes, through the result's mask."""
    image = new_image(96, 72)
    photo = add_layer(image, "Photo", 96, 72, (0, 0), load=spec["content"])
    image.select_ellipse(Gimp.ChannelOps.REPLACE, 24, 16, 48, 36)
    Gimp.Selection.feather(image, 8.0)
    return image, [photo], {}


def case_grey():
    """A grey layer with alpha (a transparent corner)."""
    image = new_image(80, 60, Gimp.ImageBaseType.GRAY)
    photo = add_layer(image, "Photo", W, H, (8, 6), load=spec["content"])
    photo.add_alpha()
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 8, 6, 16, 12)
    photo.edit_clear()
    Gimp.Selection.none(image)
    return image, [photo], {}


def case_group_selection():
    """A group and a rectangular selection on part of it: the result covers that part only."""
    image, drawables, overrides = case_group()
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 20, 40, 30)
    return image, drawables, overrides


def case_deep():
    image = new_image(80, 60, Gimp.ImageBaseType.RGB, Gimp.Precision.U16_NON_LINEAR)
    photo = add_layer(image, "Photo", W, H, (8, 6), load=spec["content"])
    return image, [photo], {}


def case_group():
    image = new_image(100, 80)
    group = Gimp.GroupLayer.new(image, "Group")
    image.insert_layer(group, None, 0)
    add_layer(image, "Inside photo", W, H, (10, 10), parent=group, load=spec["content"])
    small = add_layer(image, "Inside square", 30, 30, (50, 40), parent=group)
    small.fill(Gimp.FillType.FOREGROUND)
    return image, [group], {}


def case_style_layer():
    """The style comes from a layer of another open image; no style file at all."""
    image = new_image(80, 60)
    photo = add_layer(image, "Photo", W, H, (8, 6), load=spec["content"])
    style_image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["style"]))
    style_layer = style_image.get_layers()[0]
    style_layer.set_name("Painting")
    return image, [photo], {"style-file": None, "style-layer": style_layer}


def case_every_argument():
    image = new_image(80, 60)
    photo = add_layer(image, "Photo", W, H, (8, 6), load=spec["content"])
    return image, [photo], dict(spec["every_argument"])


def case_indexed():
    image = new_image(80, 60)
    photo = add_layer(image, "Photo", W, H, (8, 6), load=spec["content"])
    image.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16, False, False, "")
    return image, [photo], {}


def case_bad_style():
    """A style file that is no image: the server's message reaches the caller, the image stays as it was."""
    image = new_image(80, 60)
    photo = add_layer(image, "Photo", W, H, (8, 6), load=spec["content"])
    (out / "not_an_image.jpg").write_bytes(b"this is not an image, only text with a .jpg name\n" * 20)
    return image, [photo], {"style-file": Gio.File.new_for_path(str(out / "not_an_image.jpg"))}


def case_showcase():
    """docs/make_selection_example.py: a photo at its own size, a feathered ellipse on part of it."""
    loaded = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["content"]))
    width, height = loaded.get_width(), loaded.get_height()
    loaded.delete()
    image = new_image(width, height)
    photo = add_layer(image, "Photo", width, height, (0, 0), load=spec["content"])
    x, y, w, h = spec.get("ellipse", [width // 5, height // 8, width * 3 // 5, height * 3 // 4])
    image.select_ellipse(Gimp.ChannelOps.REPLACE, x, y, w, h)
    Gimp.Selection.feather(image, spec.get("feather", 24.0))
    return image, [photo], {}


def case_single():
    """One plain layer, for the live preview, Stop, Cancel and kill runs."""
    image = new_image(80, 60)
    photo = add_layer(image, "Photo", W, H, (8, 6), load=spec["content"])
    photo.attach_parasite(Gimp.Parasite.new("unrelated", Gimp.PARASITE_PERSISTENT, list(b"keep me")))
    photo.add_alpha()
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 8, 6, 16, 12)  # a transparent corner
    photo.edit_clear()
    Gimp.Selection.none(image)
    return image, [photo], {}


def case_one_style():
    """case_single with enough steps for the style's pull to show (Adam's first steps hardly depend on it)."""
    image, drawables, _ = case_single()
    return image, drawables, {"steps": 40}


def case_two_styles():
    """case_one_style with a second style, from a layer of another open image, blended in at 40%."""
    image, drawables, overrides = case_one_style()
    second = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["content"]))
    second_layer = second.get_layers()[0]
    second_layer.set_name("Photo style")
    return image, drawables, {**overrides, "second-style-layer": second_layer, "second-style-weight": 40}


def case_auto_detail():
    """An artist's photo, larger than the server's default detail, with the detail left automatic."""
    image = new_image(2400, 1800)
    photo = add_layer(image, "Photo", 2400, 1800, (0, 0), load=spec["content"])
    return image, [photo], {"size": 0, "steps": 0, "preset": "preview"}


reports = {}
for case in spec["cases"]:
    image, drawables, overrides = globals()[f"case_{case}"]()
    try:
        reports[case] = run_case(case, image, drawables, **overrides)
        reports[case]["precision"] = image.get_precision().value_nick
    except Exception as exc:  # a failure of the test harness itself: report it, keep going
        reports[case] = {"status": "harness-error", "message": f"{type(exc).__name__}: {exc}"}
    (out / "report.json").write_text(json.dumps(reports, indent=1))
for image in Gimp.get_images():
    image.delete()
