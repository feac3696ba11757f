"""The progress window of an interactive run: a bar, a line of text, Stop and Cancel.

Stop keeps the best result so far, Cancel leaves the image as it was; both are
the JobControl functions the tests press too.  A run without a window
(scripts, batch mode) gets ``QuietProgress``, GIMP's own progress only.
"""

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GimpUi, Gtk  # noqa: E402


class ProgressWindow:
    STOP = 1

    def __init__(self, control, role: str) -> None:
        self.control = control
        dialog = self.dialog = GimpUi.Dialog(title="Style Transfer: working", role=role)
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
        elif response in (Gtk.ResponseType.CANCEL, Gtk.ResponseType.DELETE_EVENT):
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
        while Gtk.events_pending():
            Gtk.main_iteration_do(False)

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
