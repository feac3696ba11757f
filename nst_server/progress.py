"""Progress reports and cancellation, shared by the engine's methods and their callers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class Cancelled(Exception):
    """Raised by a progress callback to stop a run."""


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    loss: float
    elapsed: float


ProgressCallback = Callable[[Progress], None]
