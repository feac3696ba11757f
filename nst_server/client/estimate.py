"""How long a job will take on a given server, and the automatic output detail.

The server measures its own speed (seconds per megapixel-step, for each
precision, at whole-network scales and at texture scales) and tells clients in its ``pong``
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
from nst_server.client.params import SPECS

# What an artist waits for each quality at most, when the detail is automatic: this many seconds, or (balanced
# and high) this many times what the same layer takes at 512 px balanced, whichever is more.  On a slow machine
# the first would hold a large layer to a thumbnail; texture scales (schedule.py) make half the long side of a
# 4096 px layer fit in about 2.5 times a 512 px run.
BUDGET_S: dict[str, float] = {"preview": 15.0, "balanced": 120.0, "high": 600.0}
RELATIVE_BUDGET: dict[str, float] = {"preview": 0.0, "balanced": 3.0, "high": 10.0}
REFERENCE_DETAIL = 512
DETAIL_STEP = 32  # automatic details are multiples of this (or the layer's own long side)
MIN_DETAIL = int(SPECS["size"].minimum or 0)  # the smallest size the server accepts
MAX_DETAIL = int(SPECS["size"].maximum or 0)  # the largest


TEXTURE_COST = 0.25  # a texture step's cost per pixel against a whole-network step's, for servers that do not say


def seconds_per_megapixel_step(speed: dict[str, Any], precision: str = "auto", texture: bool = False) -> float:
    """The server's measured cost of one Adam step on one megapixel, at ``precision`` ('auto': its own choice),
    at a whole-network scale or at a ``texture`` scale."""
    timings = speed["seconds_per_megapixel_step"]
    chosen = speed["precision"] if precision == "auto" or precision not in timings else precision
    if not texture:
        return float(timings[chosen])
    texture_timings = speed.get("texture_seconds_per_megapixel_step")
    return float(texture_timings[chosen]) if texture_timings else TEXTURE_COST * float(timings[chosen])


# What the steps' measured speed leaves out, fitted on real jobs through a real server with previews at the
# layer's size (docs/measure_estimate.py, 2 cores, balanced: a 512 px layer, and 2400 and 4096 px layers at 2304 px
# detail, which the bare steps' work underestimated by 19%, 16% and 21%).  Checked on other layers the same way:
# a 1024 px one +10.8%, 3200x2400 at 2368 px detail +9.4%, 4096x3072 at 2560 px +10.6% (the probe itself varies
# by about 10% between server starts on this machine):
STEP_OVERHEAD = 1.15  # a job's steps against the probe's fastest one: progress, previews, tiles' content passes
LAYER_COST = 0.7  # texture megapixel-steps per megapixel of the layer: decoding, enlarging, encoding, transfers


def _job_seconds(speed: dict[str, Any], scales: list[schedule.Scale], height: int, width: int, precision: str,
                 layer_images: int) -> float:
    """Seconds of a job that runs ``scales`` on a ``height`` x ``width`` layer and carries ``layer_images`` images
    of the layer's size (decoded, enlarged, encoded, sent)."""
    work = sum(seconds_per_megapixel_step(speed, precision, texture) * schedule.megapixel_steps(scales, texture)
               for texture in (False, True))
    layer = layer_images * LAYER_COST * height * width / 1e6 * seconds_per_megapixel_step(speed, precision, texture=True)
    return STEP_OVERHEAD * work + layer


def estimate_seconds(speed: dict[str, Any], height: int, width: int, size: int, preset: str, steps: int = 0,
                     precision: str = "auto") -> float:
    """Seconds a multiscale job on a ``height`` x ``width`` layer at long side ``size`` takes, from its send to
    its result."""
    return _job_seconds(speed, schedule.plan(height, width, size, preset, steps), height, width, precision, 1)


def followup_seconds(speed: dict[str, Any], height: int, width: int, size: int, preset: str, steps: int = 0,
                     precision: str = "auto") -> float:
    """Seconds an animation's frame after the first takes (issue 20): schedule.plan_followup's scales, and the
    layer's cost twice: the previous frame's photo and result travel with it, but the engine keeps them as float16
    at the detail.  Counted as three layers, a 4096x3072 later frame's estimate was over real on four of five
    server starts (+5% to +20%, once +70%; docs/measure_estimate.py --frames 2); as two, -17% to +6% on those four."""
    return _job_seconds(speed, schedule.plan_followup(height, width, size, preset, steps), height, width, precision, 2)


def estimate_frames_seconds(speed: dict[str, Any], height: int, width: int, size: int, preset: str, steps: int,
                            precision: str, n: int) -> float:
    """Seconds ``n`` animation frames of ``height`` x ``width`` take: the first a whole job, each next one
    a follow-up."""
    return (estimate_seconds(speed, height, width, size, preset, steps, precision)
            + (n - 1) * followup_seconds(speed, height, width, size, preset, steps, precision))


def budget_seconds(speed: dict[str, Any], height: int, width: int, preset: str, steps: int = 0,
                   precision: str = "auto") -> float:
    """What automatic detail may spend on this layer: BUDGET_S, or RELATIVE_BUDGET times a 512 px balanced run."""
    reference = estimate_seconds(speed, height, width, min(REFERENCE_DETAIL, max(height, width)), "balanced", steps,
                                 precision)
    return max(BUDGET_S[preset], RELATIVE_BUDGET[preset] * reference)


def auto_detail(speed: dict[str, Any], height: int, width: int, preset: str, steps: int = 0,
                precision: str = "auto", budget: float | None = None) -> int:
    """The largest long side, up to the layer's own, whose estimate fits ``budget`` (budget_seconds by default).

    When even the smallest detail does not fit, the smallest is returned.
    """
    budget = budget_seconds(speed, height, width, preset, steps, precision) if budget is None else budget
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
