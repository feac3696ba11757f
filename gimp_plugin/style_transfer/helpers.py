"""The plug-in's pure helpers: no GIMP, no pyzmq, so that ordinary unit tests reach them
(tests/test_plugin_helpers.py).

What the dialog says about time and detail, the server's parameters from the
dialog's arguments, the blend of two styles, the provenance record, messages
for the user, the progress text of a job's events, what Stop and Cancel do, and
the little pixel work the plug-in does itself.
"""

from __future__ import annotations

import json
import time
from typing import Any

from nst_server.client import errors, estimate, events, schedule
from nst_server.client.errors import ProtocolError
from nst_server.client.params import SPECS, StyleParams, dialog_specs

# Arguments stored in the provenance parasite and offered again (the style layer separately).
REMEMBERED_ARGS = (*(spec.argument for spec in dialog_specs()), "second-style-weight")
# (file argument, layer argument) of each style: the first, and the optional second one blended in.
STYLE_ARGS = (("style-file", "style-layer"), ("second-style-file", "second-style-layer"))
# Expert and documentation hook: JSON of further server parameters (e.g. {"backbone": "vgg16"}).
EXTRA_PARAMS_ENV = "NST_PLUGIN_EXTRA_PARAMS"


class PluginError(Exception):
    """A failure whose message is meant for the user."""


class UserCancelled(Exception):
    """The user pressed Cancel: the image is left as it was."""


# --- what the server gets ----------------------------------------------------------------
def extra_params(raw: str | None) -> dict[str, Any]:
    """The expert hook's parameters (``NST_PLUGIN_EXTRA_PARAMS``); PluginError when it is no JSON object."""
    try:
        extra = json.loads(raw or "{}")
    except ValueError:
        raise PluginError(f"{EXTRA_PARAMS_ENV} is not valid JSON.") from None
    if not isinstance(extra, dict):
        raise PluginError(f"{EXTRA_PARAMS_ENV} is not a JSON object.")
    return extra


def server_params(args: dict[str, Any], extra: dict[str, Any]) -> StyleParams:
    """The server's parameters from the dialog's arguments and the expert hook's, checked here (an automatic
    detail is chosen per layer, see detail_for)."""
    try:
        return StyleParams.from_controls(args, extra)
    except ProtocolError as exc:
        where = f" (in {EXTRA_PARAMS_ENV})" if extra else ""
        raise PluginError(f"{exc.message}{where}") from None


def blend_weights(share: int, second: bool) -> list[float]:
    """The blend weight of each style: the first alone, or with the second's ``share`` (percent) of the blend."""
    if not second or share <= 0:
        return [1.0]
    return [(100 - share) / 100, share / 100]


def blended_name(names: list[str]) -> str:
    return " + ".join(names)


# --- output detail and the time it takes -------------------------------------------------
def detail_for(width: int, height: int, args: dict, precision: str, speed: dict | None) -> tuple[int, float | None]:
    """(long side to work at, estimated seconds or None) for one layer region: the dialog's detail, or with
    detail 0 the largest the quality finishes within its time budget on this server."""
    size, preset, steps = args["size"], args["preset"], args["steps"]
    if not size:
        if speed is None:  # the server could not say how fast it is: the server's default, at most the layer's size
            size = max(estimate.MIN_DETAIL, min(SPECS["size"].default, max(width, height)))
        else:
            size = estimate.auto_detail(speed, height, width, preset, steps, precision)
    seconds = None if speed is None else estimate.estimate_seconds(speed, height, width, size, preset, steps, precision)
    return size, seconds


def estimate_text(sizes: list[tuple[int, int]], args: dict, precision: str, speed: dict | None, waiting: bool) -> str:
    """What the dialog says the result will be (``sizes``: width, height of each layer): its resolution, the detail
    it is painted at, and the time."""
    automatic = not args["size"]
    if len(sizes) == 1:
        result = f"Result: {sizes[0][0]}×{sizes[0][1]} px"
    else:
        result = f"Result: {len(sizes)} layers at their own sizes"
    if speed is None:
        if waiting:
            return f"{result}; asking the style transfer server how fast it is…"
        return (f"{result}; time unknown (the server does not say how fast it is)"
                + (f"; automatic detail works at {SPECS['size'].default} px" if automatic else ""))
    plans = [detail_for(w, h, args, precision, speed) for w, h in sizes]
    seconds = sum(t for _, t in plans if t is not None)
    # The detail the optimization reaches (preview works below the detail asked for and enlarges).
    painted = [schedule.finest_size(args["preset"], size) for size, _ in plans]
    if all(p >= max(w, h) for p, (w, h) in zip(painted, sizes, strict=True)):
        detail = "at full detail"
    else:
        detail = "painted at " + "/".join(dict.fromkeys(f"{p}" for p in painted)) + " px detail"
    how = ""
    if automatic:
        budget = max(estimate.budget_seconds(speed, h, w, args["preset"], args["steps"], precision) for w, h in sizes)
        how = f" (automatic: the most that fits in {estimate.duration(budget)})"
    return f"{result} {detail}, in {estimate.describe_seconds(seconds)}{how}"


def planned_text(size: int, seconds: float | None) -> str:
    """'512 px, about 40 s': what a layer's job is about to do."""
    return f"{size} px" + (f", {estimate.describe_seconds(seconds)}" if seconds is not None else "")


def layer_lead(index: int, count: int) -> str:
    """'Style transfer (2/3) ': the start of every progress line of one layer's job."""
    return f"Style transfer ({index + 1}/{count}) " if count > 1 else "Style transfer "


# --- while a job runs --------------------------------------------------------------------
def event_text(lead: str, event: events.Event) -> tuple[str, float | None] | None:
    """(text, fraction of the job or None) to show for an event, or None when there is nothing new to say."""
    if isinstance(event, (events.Accepted, events.KeepAlive)) and event.queue_position > 1:
        return f"{lead}waiting: the server is busy, position {event.queue_position} in the queue", None
    if isinstance(event, events.Progress):
        return f"{lead}step {event.step} of {event.total}", event.fraction
    return None


def user_message(exc: Exception) -> str:
    """A server or client failure as a sentence that says what to do (the wording is errors.ERRORS')."""
    return errors.user_message(getattr(exc, "code", ""), str(exc))


class JobControl:
    """What the Stop and Cancel buttons do, as plain functions (tests press them the same way).

    ``conn`` is the connection the job runs on; ``on_job`` hears the job's id once it is known.
    """

    def __init__(self, on_job=None) -> None:
        self.conn = None
        self.job = None
        self.requested = None  # None, "stop" or "cancel"
        self._on_job = on_job

    def press_stop(self) -> None:
        """Finish now and keep the best result so far."""
        if self.requested is None:
            self.requested = "stop"
            self._send()

    def press_cancel(self) -> None:
        """Cancel the server's job; the unfinished layers are removed."""
        if self.requested != "cancel":
            self.requested = "cancel"
            self._send()

    def new_job(self, conn) -> None:
        """The next layer's job is about to be sent on ``conn``."""
        self.conn, self.job = conn, None

    def seen(self, job: str) -> None:
        """An event of the current job: learn its id, and send a press that came before it."""
        if self.job is None and job:
            self.job = job
            if self._on_job is not None:
                self._on_job(job)
            self._send()

    def _send(self) -> None:
        if self.conn is None or self.job is None or self.requested is None:
            return
        if self.requested == "cancel":
            self.conn.cancel(self.job)
        else:
            self.conn.finish(self.job)


# --- the record a result carries ----------------------------------------------------------
def provenance_record(source: str, styles: list[dict], params: StyleParams, args: dict, region: tuple[int, int, int, int],
                      stopped_early: bool, estimate_seconds: float | None, speed: dict | None, elapsed: float) -> dict:
    """What a result layer's parasite holds (README: "Your settings stay with the result")."""
    return {
        "tool": "GIMP Style Transfer", "version": 1, "source": source,
        "style": {k: v for k, v in styles[0].items() if k != "weight"}, "styles": styles,
        "params": params.to_wire(), "args": args,
        "region": list(region),
        "stopped_early": stopped_early,
        "estimate": {"seconds": estimate_seconds, "automatic": not args["size"], "speed": speed, "elapsed": elapsed},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# --- pixels --------------------------------------------------------------------------------
def without_alpha(rgba: bytes, sample_bytes: int) -> bytes:
    """The RGB of RGBA pixels whose samples are ``sample_bytes`` long: what goes to the server (the alpha
    stays here, unchanged)."""
    rgb = bytearray(len(rgba) // 4 * 3)
    for offset in range(3 * sample_bytes):  # each byte of R, G and B, at every pixel at once
        rgb[offset::3 * sample_bytes] = rgba[offset::4 * sample_bytes]
    return bytes(rgb)


def with_alpha(rgb: bytes, rgba: bytes, sample_bytes: int) -> bytes:
    """``rgba`` with its colours replaced by ``rgb`` (same size and sample length), its alpha kept."""
    if len(rgb) * 4 != len(rgba) * 3:
        raise ValueError(f"{len(rgb)} bytes of RGB do not fit {len(rgba)} bytes of RGBA")
    out = bytearray(rgba)
    for offset in range(3 * sample_bytes):
        out[offset::4 * sample_bytes] = rgb[offset::3 * sample_bytes]
    return bytes(out)


def scale_nearest(data: bytes, width: int, height: int, channels: int, new_width: int, new_height: int) -> bytes:
    """Nearest-neighbour resize in pure Python, for previews of another size than the layer's (a server from
    before previews at the layer's size sends at most 256 px; rows are reused)."""
    row_bytes = width * channels
    columns = [min(width - 1, (x * width) // new_width) * channels for x in range(new_width)]
    cache: dict[int, bytes] = {}
    rows = []
    for y in range(new_height):
        source_row = min(height - 1, (y * height) // new_height)
        row = cache.get(source_row)
        if row is None:
            start = source_row * row_bytes
            line = data[start:start + row_bytes]
            row = cache[source_row] = b"".join(line[c:c + channels] for c in columns)
        rows.append(row)
    return b"".join(rows)
