"""What the server gets from the dialog: its parameters, the styles' blend, and the detail to work at.

Pure (no GIMP, no pyzmq), so that ordinary unit tests reach it (tests/test_plugin_helpers.py)."""

from __future__ import annotations

import json
from typing import Any

from failures import PluginError

from nst_server.client import estimate
from nst_server.client.errors import ProtocolError
from nst_server.client.params import SPECS, StyleParams, dialog_specs

# Arguments stored in the provenance parasite and offered again (the style layer separately).
REMEMBERED_ARGS = (*(spec.argument for spec in dialog_specs()), "second-style-weight")


# (file argument, layer argument) of each style: the first, and the optional second one blended in.
STYLE_ARGS = (("style-file", "style-layer"), ("second-style-file", "second-style-layer"))


# Expert and documentation hook: JSON of further server parameters (e.g. {"backbone": "vgg16"}).
EXTRA_PARAMS_ENV = "NST_PLUGIN_EXTRA_PARAMS"


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


def frame_detail(width: int, height: int, size: int, args: dict, precision: str, speed: dict | None,
                 followup: bool) -> tuple[int, float | None]:
    """(long side, estimated seconds or None) of an animation frame after the first: the first frame's detail
    (one look for the whole animation), on the shorter plan when it ``followup``s the previous frame."""
    if speed is None:
        return size, None
    timing = estimate.followup_seconds if followup else estimate.estimate_seconds
    return size, timing(speed, height, width, size, args["preset"], args["steps"], precision)


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
