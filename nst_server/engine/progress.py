"""Progress reports and cancellation, shared by the engine's methods and their callers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Cancelled(Exception):
    """Raised by a progress callback to stop a run and discard it."""


class FinishNow(Exception):
    """Raised by a progress callback to end a run early and keep the image it has reached."""


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    loss: float
    elapsed: float
    # The current image, (H, W, 3) float in [0, 1], computed only when a caller asks (previews).
    current: Callable[[], Any] | None = field(default=None, compare=False, repr=False)


ProgressCallback = Callable[[Progress], None]
