"""The optional fields of a ``pong``: what the server can do (``features``) and how fast it is (``speed``).

Part of the wire protocol (nst_server/client/protocol.py names them too); a module of its own only to keep
protocol.py one reader's size.  Standard library only: it runs inside GIMP's Python.  A server of an older
version leaves these fields out, and a malformed one counts as absent: a client never fails on a pong.
"""

from __future__ import annotations

import math
from typing import Any

# What this server takes beyond NST/1's first form, listed in every pong, so that a client checks before it sends
# (an older server answers a stylize with ``previous`` with bad_message).
FEATURES = ("previous",)  # "previous": a stylize may carry the previous animation frame (frames mode)


def parse_features(raw: Any) -> tuple[str, ...]:
    """The ``features`` a pong lists: its strings, in order; () from a server before the field, or a malformed one."""
    if not isinstance(raw, list):
        return ()
    return tuple(name for name in raw if isinstance(name, str))


# --- the server's speed -------------------------------------------------------
SPEED_PRECISIONS = ("float32", "bfloat16")


def _timings(raw: Any) -> dict[str, float] | None:
    if not isinstance(raw, dict) or not raw:
        return None
    clean: dict[str, float] = {}
    for name, seconds in raw.items():
        if name not in SPEED_PRECISIONS or isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not math.isfinite(seconds) or seconds <= 0:
            return None
        clean[name] = float(seconds)
    return clean


def parse_speed(raw: Any) -> dict[str, Any] | None:
    """The ``speed`` a pong carries, checked: ``precision`` (the engine's choice), ``seconds_per_megapixel_step``
    (per precision measured, at whole-network scales) and ``texture_seconds_per_megapixel_step`` (the same at
    texture scales; absent from servers before texture scales, when clients assume TEXTURE_COST of a whole
    step); None when absent (not measured yet) or malformed."""
    if not isinstance(raw, dict):
        return None
    timings = _timings(raw.get("seconds_per_megapixel_step"))
    precision = raw.get("precision")
    if timings is None or not isinstance(precision, str) or precision not in timings:
        return None
    speed: dict[str, Any] = {"precision": precision, "seconds_per_megapixel_step": timings}
    if "texture_seconds_per_megapixel_step" in raw:
        texture = _timings(raw["texture_seconds_per_megapixel_step"])
        if texture is None or set(texture) != set(timings):
            return None
        speed["texture_seconds_per_megapixel_step"] = texture
    return speed
