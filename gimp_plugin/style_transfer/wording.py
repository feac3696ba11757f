"""What the plug-in says: the dialog's line about the result and its time, the progress text of a job, and
failures as sentences.  Pure (no GIMP, no pyzmq)."""

from __future__ import annotations

from request import detail_for

from nst_server.client import errors, estimate, events, schedule
from nst_server.client.params import SPECS


def estimate_text(sizes: list[tuple[int, int]], args: dict, precision: str, speed: dict | None, waiting: bool,
                  frames: bool = False) -> str:
    """What the dialog says the result will be (``sizes``: width, height of each layer): its resolution, the detail
    it is painted at, and the time; with ``frames``, of the whole animation (the frames' sizes are checked when
    it runs: the first frame's stands for all)."""
    automatic = not args["size"]
    if frames:
        result = f"Result: {len(sizes)} frames of {sizes[0][0]}×{sizes[0][1]} px"
    elif len(sizes) == 1:
        result = f"Result: {sizes[0][0]}×{sizes[0][1]} px"
    else:
        result = f"Result: {len(sizes)} layers at their own sizes"
    if speed is None:
        if waiting:
            return f"{result}; asking the style transfer server how fast it is…"
        return (f"{result}; time unknown (the server does not say how fast it is)"
                + (f"; automatic detail works at {SPECS['size'].default} px" if automatic else ""))
    if frames:
        return f"{result} {frames_time_text(sizes[0], len(sizes), args, precision, speed)}"
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


def frames_time_text(size: tuple[int, int], count: int, args: dict, precision: str, speed: dict) -> str:
    """'at full detail, in about 1 min 40 s (the first about 30 s, then about 15 s each)': the detail is chosen
    once, for the first frame, and used for all (one look); the frames after it run a shorter plan."""
    width, height = size
    detail, first = detail_for(width, height, args, precision, speed)
    preset, steps = args["preset"], args["steps"]
    followup = estimate.followup_seconds(speed, height, width, detail, preset, steps, precision)
    total = estimate.estimate_frames_seconds(speed, height, width, detail, preset, steps, precision, count)
    painted = schedule.finest_size(preset, detail)
    words = "at full detail" if painted >= max(width, height) else f"painted at {painted} px detail"
    return (f"{words}, in {estimate.describe_seconds(total)} (the first {estimate.describe_seconds(first or 0)}, "
            f"then {estimate.describe_seconds(followup)} each)")


def planned_text(size: int, seconds: float | None) -> str:
    """'512 px, about 40 s': what a layer's job is about to do."""
    return f"{size} px" + (f", {estimate.describe_seconds(seconds)}" if seconds is not None else "")


def layer_lead(index: int, count: int) -> str:
    """'Style transfer (2/3) ': the start of every progress line of one layer's job."""
    return f"Style transfer ({index + 1}/{count}) " if count > 1 else "Style transfer "


def frame_lead(index: int, count: int, chained: bool) -> str:
    """'Style transfer (frame 2/5) ': the start of every progress line of one frame's job; it says so when the
    server cannot carry the previous frame (an older one) and the frames are stylized independently."""
    alone = "" if chained else ", stylized independently: this server cannot keep frames consistent"
    return f"Style transfer (frame {index + 1}/{count}{alone}) "


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
