#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters > Style Transfer > Apply Style...  Registration, and what one call does.

Each selected layer (a layer group as it looks) is sent with a style image (a
file, or a layer of any open image; optionally a second one blended in) to the
local style transfer server (started on demand).  The output detail is the
dialog's, or automatic: the largest, up to the layer's own size, that the
chosen quality finishes within its time budget on this server, which tells
the plug-in how fast it is; the dialog shows the estimated time before OK.
Each layer's stylized copy appears at once directly above it and fills in as
the work goes (layer_job.py).  All of it is one undo group.  In interactive
mode a small window offers Stop (keep the best result so far) and Cancel
(leave the image as it was).  The parameters of each result are stored on its
layer as a parasite, and offered again when the filter runs on that layer.
With "Animation frames" (checked by itself when the selected layers are named
as frames) the layers are an animation's frames instead: stylized bottom
first, each from the previous one so that the animation does not flicker,
into a new image that Playback and the GIF/WebP exporters read as the
source's animation (frame_job.py); the source image is never modified.

The plug-in's modules, beside this file: ``dialog`` (the dialog and the server
warming up meanwhile), ``layer_job`` (one layer's job), ``frame_job`` (frames
mode's checks and its new image), ``progress_window``, ``gimp_io`` (pixels,
styles and the parasite in GIMP); the pure ones, unit tested without GIMP:
``request`` (what the server gets), ``wording`` (what the plug-in says),
``job_control`` (Stop and Cancel), ``provenance``, ``pixels``, ``frames``
(frame-timing names) and ``failures``; and ``observer`` (the door for a test
watcher).  The ``nst_server`` folder beside them is the client package
install.py copies.

Runs in GIMP's own Python: standard library, PyGObject and pyzmq only.  pyzmq
is imported only when a connection is opened, so that a missing module is
reported to the user (or the bridge used) instead of making the plug-in vanish
from the menus.
"""

import os
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gimp, GimpUi, GLib, GObject  # noqa: E402

PLUGIN_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PLUGIN_DIR))  # the plug-in's modules, and the client package install.py puts here

import observer  # noqa: E402
from dialog import SPEED_WAIT_S, ServerWarmup, fill_dialog, prefill_from_provenance  # noqa: E402
from failures import PluginError, UserCancelled  # noqa: E402
from frame_job import FRAMES_ARG, Animation, looks_like_animation, selected_frames  # noqa: E402
from gimp_io import PARASITE_NAME, read_styles  # noqa: E402
from job_control import JobControl  # noqa: E402
from layer_job import LayerJob, layer_jobs  # noqa: E402
from progress_window import ProgressWindow, QuietProgress  # noqa: E402
from provenance import provenance_record  # noqa: E402
from request import EXTRA_PARAMS_ENV, REMEMBERED_ARGS, blended_name, detail_for, extra_params, frame_detail, server_params  # noqa: E402
from wording import frame_lead, layer_lead, planned_text  # noqa: E402

from nst_server.client import config as plugin_config  # noqa: E402  (standard library only)
from nst_server.client import connect, errors, protocol, server_speed  # noqa: E402
from nst_server.client.params import StyleParams, dialog_specs  # noqa: E402

connect.add_vendor_path(plugin_config.read(PLUGIN_DIR), PLUGIN_DIR)  # pyzmq built for this Python by install.py

PROC_NAME = "plug-in-style-transfer"


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


def server_speed_now(conn, key: str, needed: bool, progress) -> dict | None:
    """The server's speed for a run without the dialog: asked once, waited for when automatic detail needs it."""
    speed = server_speed.ask(conn)
    if speed is None and needed:
        def still_waiting(elapsed: float) -> bool:
            Gimp.progress_set_text("Style transfer: the server is measuring how fast it is (once per machine)...")
            Gimp.progress_pulse()
            progress.pump()
            return True

        speed = server_speed.wait(conn, SPEED_WAIT_S, still_waiting=still_waiting)
    if speed is not None:
        server_speed.remember(key, speed)
    return speed


def server_features(conn) -> tuple[str, ...]:
    """What the server takes beyond NST/1's first form (its pong's ``features``); () from an older one."""
    pong = conn.ping(2.0)
    return pong.features if pong is not None else ()


class Run:
    """One call of the procedure: each selected layer's job in turn, on one connection.

    With ``frames`` the jobs are an animation's frames, bottom first: each after the first carries the previous
    frame's photo and result (when the server takes them), and all are worked at the first frame's detail.
    """

    def __init__(self, image, jobs: list[LayerJob], has_selection: bool, styles: list[tuple[str, bytes, dict]],
                 args: dict, params: StyleParams, progress, control: JobControl, frames: bool = False) -> None:
        self.image, self.jobs, self.has_selection = image, jobs, has_selection
        self.styles, self.args, self.params = styles, args, params
        self.progress, self.control = progress, control
        self.config = server_config()
        self.speed = None
        self.frames = frames
        self.chained = False  # the server carries the previous frame into the next
        self.frame_size: int | None = None  # frames mode: the first frame's detail, used for all

    def stylize_layers(self, conn=None) -> int:
        """Every layer in turn, each with its live layer; returns how many results were kept.

        ``conn``: a connection the dialog already opened (else one is opened after the first live layer).
        """
        style_images = [protocol.StyleImage(name, data, origin["weight"]) for name, data, origin in self.styles]
        name = blended_name([name for name, _, _ in self.styles])
        kept = 0
        try:
            for index, job in enumerate(self.jobs):
                if self.control.requested is not None:
                    break  # Stop ends the run after the layer it stopped
                job.create_layer(f"{job.name} ({name})", self.has_selection)
                Gimp.displays_flush()
                if conn is None:  # after the first layer is there: starting the server can take a while
                    self.progress.update("Starting the style transfer server...")
                    conn = open_connection(self.config)
                if index == 0:
                    self._learn_speed(conn)
                previous = None
                if self.chained and index > 0:
                    previous = (self.jobs[index - 1].sent, self.jobs[index - 1].received)
                lead = (frame_lead(index, len(self.jobs), self.chained) if self.frames
                        else layer_lead(index, len(self.jobs)))
                self._stylize(job, conn, style_images, lead, previous, index)
                kept += 1
                Gimp.displays_flush()
        finally:
            if conn is not None:
                conn.close()
        return kept

    def _learn_speed(self, conn) -> None:
        self.speed = server_speed_now(conn, server_speed.server_key(self.config), not self.args["size"], self.progress)
        features = server_features(conn) if self.frames else ()
        self.chained = "previous" in features
        observer.seen("connected", None, via="bridge" if connect.uses_bridge(self.config) else "pyzmq", speed=self.speed,
                      features=list(features))

    def _stylize(self, job: LayerJob, conn, style_images: list[protocol.StyleImage], lead: str,
                 previous: tuple[bytes, bytes] | None, index: int) -> None:
        if self.frame_size is not None:  # one look for the whole animation: the first frame's detail
            size, seconds = frame_detail(job.width, job.height, self.frame_size, self.args, self.params.precision,
                                         self.speed, followup=previous is not None)
        else:
            size, seconds = detail_for(job.width, job.height, self.args, self.params.precision, self.speed)
        if self.frames:
            self.frame_size = size
        params = self.params.replace(size=size)
        text = f"{lead}at {planned_text(size, seconds)}"
        observer.seen("estimate", None, size=size, seconds=seconds, automatic=not self.args["size"], speed=self.speed,
                      text=text)
        Gimp.progress_set_text(text)
        self.progress.update(text)
        started = time.monotonic()
        result = job.run(conn, style_images, params, self.control, self.progress, lead, previous)
        if self.control.requested == "cancel":  # pressed as the result arrived
            raise UserCancelled()
        if not (self.image.is_valid() and job.source.is_valid()):
            raise PluginError("The layer was closed while it was being stylized.")
        record = provenance_record(
            job.name, [origin for _, _, origin in self.styles], params, self.args, job.region,
            stopped_early=self.control.requested == "stop", estimate_seconds=seconds, speed=self.speed,
            elapsed=time.monotonic() - started)
        if self.frames:
            record["frame"] = {"index": index + 1, "frames": len(self.jobs), "previous": previous is not None}
        job.finish(result, record)


def run(procedure, run_mode, image, drawables, config, data):
    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    warmup = None
    if interactive:
        GimpUi.init(PROC_NAME)
        prefill_from_provenance(config, drawables)
        config.set_property(FRAMES_ARG, looks_like_animation(image, drawables))  # layers named as frames
        warmup = ServerWarmup(server_config())
        dialog = GimpUi.ProcedureDialog.new(procedure, config, "Style Transfer")
        fill_dialog(dialog, config, image, drawables, warmup)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            warmup.close()
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())

    control = JobControl(on_job=lambda job: observer.seen("job", None, job=job))
    progress = QuietProgress()
    jobs, animation = [], None
    frames = bool(config.get_property(FRAMES_ARG)) and len(drawables) >= 2  # a single layer runs as ever
    group_open = False
    try:
        if frames:  # checked before anything is made: a problem leaves no new image
            sources, has_selection = selected_frames(image, drawables), False  # whole frames: no selection
        else:
            jobs, has_selection = layer_jobs(image, drawables)
        styles = read_styles(config)
        args = {name: config.get_property(name) for name in REMEMBERED_ARGS}
        params = server_params(args, extra_params(os.environ.get(EXTRA_PARAMS_ENV)))
        if frames:
            args[FRAMES_ARG] = True  # in the provenance only: the server never sees it
        Gimp.progress_init("Style transfer")
        if interactive:
            progress = ProgressWindow(control, PROC_NAME + "-progress")
        if frames:
            animation = Animation(image, sources, interactive)  # the source image is never modified
            jobs = animation.jobs
        else:
            image.undo_group_start()  # the live layers too: one undo removes everything, even after a kill
            group_open = True
        conn = warmup.take(progress, need_speed=not args["size"]) if warmup is not None else None
        kept = Run(image, jobs, has_selection, styles, args, params, progress, control, frames).stylize_layers(conn)
        if animation is not None:
            animation.keep(kept)  # Stop: the frames done so far
        Gimp.displays_flush()
    except UserCancelled:
        discard(jobs, animation)
        Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    except PluginError as exc:
        discard(jobs, animation)  # never leave a half-made layer or image behind
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(exc)))
    except Exception as exc:  # a bug of ours: still a message, never a silent failure
        try:
            discard(jobs, animation)
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


def discard(jobs: list[LayerJob], animation: Animation | None) -> None:
    """Cancel or a failure: every unfinished result layer goes, and the new image of frames mode."""
    for job in jobs:
        try:
            job.remove()
        except Exception:  # the others still go
            pass
    if animation is not None:
        animation.discard()


def add_parameter_arguments(procedure, flags) -> None:
    """One argument per parameter the dialog shows (client/params.py): its label, help, range and default."""
    for spec in dialog_specs():
        if spec.toggle is not None:  # a check box for the most useful of the choices
            procedure.add_boolean_argument(spec.argument, spec.label, f"{spec.help} (checked: '{spec.toggle[1]}')",
                                           spec.default == spec.toggle[1], flags)
        elif spec.choices:
            choice = Gimp.Choice.new()
            for index, (nick, label) in enumerate(zip(spec.choices, spec.choice_labels or spec.choices, strict=True)):
                choice.add(nick, index, label, "")
            procedure.add_choice_argument(spec.argument, spec.label, spec.help, choice, spec.default, flags)
        elif spec.kind is float:
            procedure.add_double_argument(spec.argument, spec.label, spec.help, spec.minimum, spec.maximum,
                                          spec.default, flags)
        elif spec.automatic:  # 0 asks the plug-in to choose, per layer
            procedure.add_int_argument(spec.argument, spec.label, f"{spec.help}; 0: the largest, up to the layer's "
                                       "own, that the quality finishes within its time budget on this server",
                                       0, int(spec.maximum), 0, flags)
        else:
            procedure.add_int_argument(spec.argument, spec.label, spec.help, int(spec.minimum), int(spec.maximum),
                                       spec.default, flags)


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
        procedure.add_file_argument(
            "style-file", "Style _image", "Image file whose style is transferred (unless a style layer is set)",
            Gimp.FileChooserAction.OPEN, True, None, flags,
        )
        procedure.add_layer_argument(
            "style-layer", "Style la_yer", "A layer of any open image to take the style from; wins over the file",
            True, flags,
        )
        add_parameter_arguments(procedure, flags)
        procedure.add_file_argument(
            "second-style-file", "Second style _file", "Image file of a second style blended in (optional)",
            Gimp.FileChooserAction.OPEN, True, None, flags,
        )
        procedure.add_layer_argument(
            "second-style-layer", "Second style fro_m a layer", "A layer to take the second style from; wins over its file",
            True, flags,
        )
        procedure.add_int_argument("second-style-weight", "Second style's _weight (%)",
                                   "how much of the blend the second style makes, when one is chosen", 0, 100, 50, flags)
        procedure.add_boolean_argument(
            FRAMES_ARG, "Animation frames (_bottom first)",
            "Stylize the selected layers in stack order (bottom first) as one animation that does not flicker; the "
            "result is a new image with the same frame names and timings (whole frames: the selection is ignored). "
            "Checked by itself when the selected layers are named as frames, e.g. 'Frame 2 (100ms)'", False, flags)
        return procedure



if __name__ == "__main__":
    Gimp.main(StyleTransfer.__gtype__, sys.argv)
