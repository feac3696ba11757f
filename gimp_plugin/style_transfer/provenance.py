"""The record a result layer carries (README: "Your settings stay with the result").  Pure."""

from __future__ import annotations

import time

from nst_server.client.params import StyleParams


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
