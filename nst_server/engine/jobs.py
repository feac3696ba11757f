"""The engine worker's side of the pipe: runs in the TensorFlow process that service/worker.py spawns.

The one module through which the service reaches the engine.  It builds the
engine once (and has it measure its speed while no one waits), then for each
``JobRequest`` (pipe/messages.py) decodes the bytes into arrays (images.py),
calls ``engine.stylize`` with a progress callback that honours the shared cancel
and finish events, and sends back typed messages: steps now and then (a
preview every few seconds), then the result at the layer's own size and
format, or why there is none.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from nst_server.client import schedule
from nst_server.client.params import StyleParams
from nst_server.client.protocol import ImageDesc
from nst_server.engine import images
from nst_server.engine.enlarge import enlarge
from nst_server.pipe import messages
from nst_server.pipe.image_checks import BadPixels, ImageError, refusal

if TYPE_CHECKING:
    from nst_server.engine.engine import ProgressCallback, StyleTransferEngine
    from nst_server.engine.temporal import Previous

PREVIEW_INTERVAL_S = 2.0
PREVIEW_SHARE = 0.05  # of the worker's time at most, for previews


@dataclass
class Decoded:
    """A job's images as arrays."""

    content: np.ndarray  # (H, W, C) float32 in [0, 1], C = 3 or 4
    styles: list[np.ndarray]  # (h, w, 3) float32 in [0, 1]
    style_weights: list[float]
    previous: Previous | None = None  # frames mode: the frame before, RGB, float16 at the detail


def style_long_side(params: StyleParams) -> int:
    """The longest side a job reads its style images at: the seed method at ``size``; multiscale at most at
    its finest scale (``size`` or less) times ``style_scale`` (schedule.style_side)."""
    return max(params.size, schedule.style_side(params.size, params.style_scale))


def decode(request: messages.JobRequest) -> Decoded:
    """A validated job's bytes as arrays (here, in the worker: a damaged file cannot hurt the server)."""
    long_side = style_long_side(request.params)
    return Decoded(
        content=images.pixels_to_array(request.content, request.pixels),
        styles=[images.decode_style(data, name, long_side)
                for data, (name, _) in zip(request.style_files, request.styles, strict=True)],
        style_weights=[weight for _, weight in request.styles],
        previous=(decode_previous(request.content, request.previous, request.params.size)
                  if request.previous is not None else None),
    )


def decode_previous(desc: ImageDesc, previous: tuple[bytes, bytes], long_side: int) -> Previous:
    """The previous frame's photo and result, sent in the layer's format, as (h, w, 3) float16 in [0, 1], shrunk to
    ``long_side`` when the layer is larger (the job's detail: no scale of the run is finer): decoded as the layer
    is (float samples must be finite), the alpha dropped (the engine never uses it).  A 4096 px layer's pair at
    2560 px detail is 60 MB so, not 300 MB (float32 at the layer's size, for the whole run: 4.4 GB at the peak, past
    the 4 GB bound); float16 holds an 8-bit sample within 0.13/255."""
    from nst_server.engine.features import resize_to_shape
    from nst_server.engine.temporal import Previous  # OpenCV and TensorFlow: imported by frames-mode jobs only

    shape = schedule.long_side_shape(desc.height, desc.width, min(long_side, max(desc.height, desc.width)))
    arrays = []
    for what, data in zip(("photo", "result"), previous, strict=True):
        try:
            image = images.pixels_to_array(desc, data, channels=3, dtype=np.float16)
        except BadPixels as exc:  # say which image: the layer has the same message
            raise BadPixels(f"the previous frame's {what}: {exc}") from None
        arrays.append(image if image.shape[:2] == shape else resize_to_shape(image, shape).astype(np.float16))
    return Previous(photo=arrays[0], result=arrays[1])


def run(engine: StyleTransferEngine, request: messages.JobRequest, progress: ProgressCallback,
        decoded: Decoded | None = None) -> bytes:
    """The stylized layer, at the layer's own size and format, its alpha kept (``decoded``: the request's images,
    when already decoded)."""
    desc, decoded = request.content, decoded if decoded is not None else decode(request)
    # ``previous`` only for frames-mode jobs: every other job calls the engine exactly as before frames mode.
    frames = {"previous": decoded.previous} if decoded.previous is not None else {}
    decoded.previous = None  # held by the engine's run only, not while the result is enlarged and encoded
    result = engine.stylize(decoded.content[..., :3], decoded.styles, request.params,
                            style_weights=decoded.style_weights, progress=progress, **frames)
    frames.clear()
    result = enlarge(result, decoded.content[..., :3])
    if desc.channels == 4:  # the colours written over the layer's own, beside its alpha: no second RGBA copy
        decoded.content[..., :3] = result
        result = decoded.content
    return images.array_to_pixels(desc, result)


def make_preview(image: Any, long_side: int, layer: ImageDesc) -> messages.Preview:
    """An 8-bit RGB copy of the current image for the client's live preview: at the layer's own size when
    ``long_side`` reaches it (what the plug-in asks for: it shows the preview in the layer as it is), else
    scaled down to fit ``long_side`` (never up)."""
    from PIL import Image

    from nst_server.engine.features import resize_long_side

    if long_side >= max(layer.width, layer.height):
        pixels = images.to_uint8(image)
        if pixels.shape[:2] != (layer.height, layer.width):  # as the result will be; bilinear is plenty here
            pixels = np.asarray(Image.fromarray(pixels).resize((layer.width, layer.height), Image.BILINEAR))
    else:
        pixels = images.to_uint8(resize_long_side(image, long_side) if max(image.shape[:2]) > long_side else image)
    return messages.Preview(ImageDesc(pixels.shape[1], pixels.shape[0], "RGB8"), pixels.tobytes())


def reporter(conn: Connection, cancel: Any, finish: Any, request: messages.JobRequest,
             interval: float) -> ProgressCallback:
    """The engine's progress callback for one job: it stops the run when asked (cancel, finish) and sends a
    step now and then, with a preview every few seconds."""
    from nst_server.engine.engine import Cancelled, FinishNow

    last = last_preview = time.monotonic()
    preview_gap = PREVIEW_INTERVAL_S

    def progress(p) -> None:
        nonlocal last, last_preview, preview_gap
        if cancel.is_set():
            raise Cancelled()
        if finish.is_set():
            raise FinishNow()
        now = time.monotonic()
        if p.step == p.total or now - last >= interval:
            last = now
            preview = None
            if p.current is not None and request.preview_long_side and now - last_preview >= preview_gap:
                preview = make_preview(p.current(), request.preview_long_side, request.content)
                last_preview = time.monotonic()
                # A preview of a 12-megapixel layer takes a good part of a second: spaced so that previews
                # cost at most PREVIEW_SHARE of the run, however large the layer.
                preview_gap = max(PREVIEW_INTERVAL_S, (last_preview - now) / PREVIEW_SHARE)
            messages.send(conn, messages.StepDone(request.job, p.step, p.total, p.loss, p.elapsed, preview))

    return progress


def serve(conn: Connection, cancel: Any, finish: Any, weights_files: dict[str, str], progress_interval: float) -> None:
    """The worker process's loop, until ``Stop``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from nst_server.engine.engine import Cancelled, StyleTransferEngine
    from nst_server.engine.weights import WeightsMissing

    engine = StyleTransferEngine(weights_files)
    speed, problem = None, ""
    try:  # measure the precisions (once per machine) and trace the default method while no one waits
        tiny = np.full((32, 32, 3), 0.5, np.float32)
        engine.stylize(tiny, tiny, StyleParams(size=32, steps=1))
        measured = engine.measured_speed("vgg19")
        speed = measured.for_clients()
    except WeightsMissing:
        pass  # reported per job
    except Exception:  # the engine stays up to serve jobs (or say why each fails), not restarted in a loop
        problem = traceback.format_exc()
    conn.send(messages.Ready(speed, problem))
    while True:
        request = messages.receive(conn)
        if isinstance(request, messages.Stop):
            return
        job = request.job
        started = time.monotonic()
        try:
            decoded = decode(request)
            request = request.described()  # decoded: the bytes are not kept through the run
            pixels = run(engine, request, reporter(conn, cancel, finish, request, progress_interval), decoded)
        except Cancelled:
            conn.send(messages.JobCancelled(job))
        except WeightsMissing as exc:
            conn.send(messages.JobFailed(job, "weights_missing", str(exc)))
        except ImageError as exc:
            error = refusal(exc)
            conn.send(messages.JobFailed(job, error.code, error.message))
        except Exception as exc:  # reported to the client; the worker stays up; the traceback goes to server.log
            conn.send(messages.JobFailed(job, "internal", f"the engine failed: {type(exc).__name__}: {exc}",
                                         traceback.format_exc()))
        else:
            messages.send(conn, messages.JobResult(job, pixels, time.monotonic() - started))
        finally:  # a cancelled or failed job's arrays and bytes too: not kept beside the next job's
            request = decoded = pixels = None
