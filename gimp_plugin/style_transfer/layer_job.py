"""One selected layer's job: the region to stylize, its live result layer, and the server job that fills it.

The result layer appears at once above its source, named "... (styling…)",
as a copy of the region; the server's previews refresh it, and the result
replaces it with its final name and the provenance parasite.  With a selection
it covers only the selection's bounds and carries a mask made from it.

The region is read from GIMP once.  Its colours go to the server; its alpha
stays here and is put back under the previews and the result.  Previews come
at the layer's own size (a server from before that sends small ones, scaled
up here).
"""

import time

import observer
from failures import PluginError, UserCancelled
from gi.repository import Gimp
from gimp_io import attach_provenance, layer_offsets, pixel_format, read_region, write_pixels
from pixels import scale_nearest, with_alpha, without_alpha
from wording import event_text, user_message

from nst_server.client import errors, events, protocol
from nst_server.client.params import StyleParams

UNFINISHED = " (styling…)"
PREVIEW_MIN_INTERVAL_S = 1.0  # at most one live-preview refresh a second: GIMP stays smooth


class LayerJob:
    def __init__(self, image, source, region: tuple[int, int, int, int], fmt: tuple[str, str]) -> None:
        self.image, self.source = image, source
        self.x, self.y, self.width, self.height = region
        self.fmt = fmt
        self.desc = protocol.ImageDesc(self.width, self.height, fmt[1])  # what the server gets: no alpha
        self.pixels = read_region(source, self.x, self.y, self.width, self.height, fmt[0])  # with alpha
        self.layer = None
        self._preview_base = None  # 8-bit RGBA whose alpha goes under the previews
        self.name = source.get_name()
        self.final_name = self.name
        self._control = self._progress = None
        self._lead = ""
        self._last_preview = 0.0
        self.sent = self.received = None  # the RGB sent and received: the next animation frame's ``previous``

    @property
    def region(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height

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
        observer.seen("created", layer)

    def run(self, conn, styles: list[protocol.StyleImage], params: StyleParams, control, progress, lead: str,
            previous: tuple[bytes, bytes] | None = None) -> bytes:
        """Send the job and follow it to its result (progress text, live previews, Stop and Cancel); returns
        the result with the region's alpha, in the format it was read in.  ``previous``: the previous animation
        frame's ``sent`` and ``received`` (frames mode), which this job's are kept as."""
        control.new_job(conn)
        self._control, self._progress, self._lead, self._last_preview = control, progress, lead, 0.0
        sample = self.desc.bytes_per_sample
        try:
            self.sent = without_alpha(self.pixels, sample)
            rgb = conn.stylize(self.sent, self.desc, styles, params, on_event=self._on_event,
                               preview_long_side=max(self.width, self.height), previous=previous)
            self.received = rgb
            return with_alpha(rgb, self.pixels, sample)
        except errors.ClientError as exc:
            if exc.code == "cancelled" and control.requested == "cancel":
                raise UserCancelled() from None
            raise PluginError(user_message(exc)) from None

    def _on_event(self, event: events.Event) -> None:
        control, progress = self._control, self._progress
        control.seen(event.job)
        if isinstance(event, events.Preview):
            now = time.monotonic()
            if now - self._last_preview >= PREVIEW_MIN_INTERVAL_S and control.requested is None:
                self._last_preview = now
                self.show_preview(event.image, event.pixels)
            observer.preview_shown(control)
            progress.pump()
            return
        said = event_text(self._lead, event)
        if said is None:
            Gimp.progress_pulse()
            progress.pump()
            return
        text, fraction = said
        Gimp.progress_set_text(text)
        if isinstance(event, events.Progress):
            Gimp.progress_update(fraction)
        else:
            observer.seen("queue", None, position=event.queue_position, text=text)
        progress.update(text, fraction)

    def show_preview(self, preview: protocol.ImageDesc, data: bytes) -> None:
        if self.layer is None or not self.layer.is_valid() or not self.source.is_valid():
            return
        if (preview.width, preview.height) != (self.width, self.height):
            data = scale_nearest(data, preview.width, preview.height, 3, self.width, self.height)
        if self._preview_base is None:  # the region's alpha, so that a cut-out stays cut out while it is styled
            self._preview_base = self.pixels if self.fmt[0] == "R'G'B'A u8" else \
                read_region(self.source, self.x, self.y, self.width, self.height, "R'G'B'A u8")
        write_pixels(self.layer, self.width, self.height, "R'G'B'A u8", with_alpha(data, self._preview_base, 1))
        Gimp.displays_flush()
        observer.seen("preview", self.layer)

    def finish(self, result: bytes, record: dict) -> None:
        if not (self.layer is not None and self.layer.is_valid()):
            raise PluginError(f"The result layer of '{self.name}' was deleted while it was being made.")
        write_pixels(self.layer, self.width, self.height, self.fmt[0], result)
        self.layer.set_name(self.final_name)
        attach_provenance(self.layer, record)
        observer.seen("final", self.layer)

    def remove(self) -> None:
        if self.layer is not None and self.layer.is_valid():
            self.image.remove_layer(self.layer)
            observer.seen("removed", None)
        self.layer = None


def selected_layers(image, drawables, what: str) -> list:
    """The selected drawables, all layers of an image that is not indexed; else PluginError asking for ``what``."""
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise PluginError("Indexed images cannot be stylized. Convert the image first: "
                          "Image > Mode > RGB (or Grayscale), then try again.")
    layers = [d for d in drawables if isinstance(d, Gimp.Layer)]
    if not layers or len(layers) != len(drawables):
        raise PluginError(f"Select {what} to stylize; masks and channels cannot be.")
    return layers


def target_regions(image, drawables) -> list[tuple]:
    """(layer, (x, y, width, height)) of each selected layer: the part the selection covers, in layer coordinates."""
    layers = selected_layers(image, drawables, "one or more layers (or layer groups)")
    regions = []
    for layer in layers:
        ok, x, y, width, height = layer.mask_intersect()
        if ok and width > 0 and height > 0:
            regions.append((layer, (x, y, width, height)))
    if not regions:
        raise PluginError("The selection does not touch the selected layers: select an area on them, "
                          "or Select > None to stylize whole layers.")
    return regions


def layer_jobs(image, drawables) -> tuple[list[LayerJob], bool]:
    """A job for each selected layer, with the part the selection covers; and whether there is a selection."""
    regions = target_regions(image, drawables)
    fmt = pixel_format(image)
    return [LayerJob(image, layer, region, fmt) for layer, region in regions], not Gimp.Selection.is_empty(image)
