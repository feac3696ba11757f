"""How long a job will take on a given server, and the automatic output detail.

The server measures its own speed (seconds per megapixel-step, for each
precision, plus a fixed cost per job) and tells clients in its ``pong``
(protocol.parse_speed checks it).  schedule.py says how many megapixel-steps a
job is.  Together they give the time before the job runs; the automatic detail
is the largest long side, up to the layer's own, whose estimate fits the
quality preset's time budget.

Standard library only: it runs in the plug-in (install.py copies the client
package next to it).
"""

from __future__ import annotations

from typing import Any

from nst_server.client import schedule

# What an artist waits for each quality at most, when the detail is automatic.
BUDGET_S: dict[str, float] = {"preview": 15.0, "balanced": 120.0, "high": 600.0}
DETAIL_STEP = 32  # automatic details are multiples of this (or the layer's own long side)
MIN_DETAIL = 32  # the smallest size the server accepts
MAX_DETAIL = 4096  # the largest


def seconds_per_megapixel_step(speed: dict[str, Any], precision: str = "auto") -> float:
    """The server's measured cost of one Adam step on one megapixel, at ``precision`` ('auto': its own choice)."""
    timings = speed["seconds_per_megapixel_step"]
    chosen = speed["precision"] if precision == "auto" or precision not in timings else precision
    return float(timings[chosen])


def estimate_seconds(speed: dict[str, Any], height: int, width: int, size: int, preset: str, steps: int = 0,
                     precision: str = "auto") -> float:
    """Seconds a multiscale job on a ``height`` x ``width`` layer at long side ``size`` takes at most."""
    work = schedule.megapixel_steps(schedule.plan(height, width, size, preset, steps))
    return float(speed.get("fixed_seconds") or 0.0) + seconds_per_megapixel_step(speed, precision) * work


def auto_detail(speed: dict[str, Any], height: int, width: int, preset: str, steps: int = 0,
                precision: str = "auto", budget: float | None = None) -> int:
    """The largest long side, up to the layer's own, whose estimate fits ``budget`` (the preset's by default).

    When even the smallest detail does not fit, the smallest is returned.
    """
    budget = BUDGET_S[preset] if budget is None else budget
    own = max(MIN_DETAIL, min(MAX_DETAIL, max(height, width)))
    sizes = [own, *range((own - 1) // DETAIL_STEP * DETAIL_STEP, MIN_DETAIL - 1, -DETAIL_STEP)]
    for size in sizes:
        if estimate_seconds(speed, height, width, size, preset, steps, precision) <= budget:
            return size
    return sizes[-1]


def duration(seconds: float) -> str:
    """'40 s', '2 min 10 s', '1 h 5 min': rounded as a person would say it (to 5 s, 10 s, 5 min)."""
    step = 1 if seconds < 10 else 5 if seconds < 60 else 10 if seconds < 3600 else 300
    rounded = max(1, round(seconds / step) * step)
    if rounded < 60:
        return f"{rounded} s"
    if rounded < 3600:
        minutes, rest = divmod(rounded, 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(rounded // 60, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def describe_seconds(seconds: float) -> str:
    """'about 2 min 10 s'."""
    return f"about {duration(seconds)}"
