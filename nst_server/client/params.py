"""The parameters of a style transfer, defined once: ``StyleParams``.

Each field carries its spec (range or choices, help, and how the dialog shows
it) in its metadata.  The GIMP dialog's arguments, the command line's options
and the wire format are all built from these specs; a StyleParams is checked
when it is made, so whoever holds one (the socket process, the engine) holds
valid parameters.  Adding a parameter is one field here, plus its use.
Standard library only: the plug-in imports it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nst_server.client import schedule
from nst_server.client.errors import ProtocolError, printable, shown

METHODS = ("multiscale", "seed")
BACKBONES = ("vgg19", "vgg16")
PRESETS = tuple(schedule.PRESETS)  # preview, balanced, high
PRESERVE_COLORS = ("off", "luminance", "match")
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class ParamSpec:
    """What one parameter is: its default, its range or choices, and how people see it.

    The kind (int, float or a choice of strings) is the default's type.  In the dialog: ``section`` says where
    ("main", "advanced" in its expander, "" not at all), ``label`` is the label with its mnemonic, ``slider``
    shows a number as a slider; ``toggle``: a check box that sends the first value when off and the second
    when on.  ``automatic``: 0 means "choose for me" in the dialog and on the command line (resolved before a
    request is sent).
    """

    name: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    choice_labels: tuple[str, ...] = ()
    section: str = ""
    label: str = ""
    slider: bool = False
    automatic: bool = False
    toggle: tuple[str, str] | None = None

    @property
    def kind(self) -> type:
        return type(self.default)

    @property
    def argument(self) -> str:
        """The name in the GIMP procedure (hyphens) and, after ``--``, on the command line."""
        return self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """``value`` if it is valid for this parameter (an int widened to float where a float is wanted), else
        ProtocolError ``bad_parameter`` naming the parameter, what it takes and what came."""
        if self.choices:
            if not isinstance(value, str) or value not in self.choices:
                raise self._refuse(f"must be one of {', '.join(self.choices)}; got {shown(value)}")
            return value
        if self.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise self._refuse(f"must be an integer, got {shown(value)}")
        if self.kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))
                                   or (isinstance(value, float) and not math.isfinite(value))):
            raise self._refuse(f"must be a number, got {shown(value)}")
        assert self.minimum is not None and self.maximum is not None, self.name
        if not self.minimum <= value <= self.maximum:  # compared before float(): a huge int would overflow
            raise self._refuse(f"must be between {self.minimum:g} and {self.maximum:g}, got {shown(value)}")
        return self.kind(value)

    def _refuse(self, what: str) -> ProtocolError:
        return ProtocolError("bad_parameter", f"parameter '{self.name}' {what}")


def _param(default: Any, help: str, **spec: Any) -> Any:
    """A StyleParams field: its default, and its spec (see ParamSpec) kept in the field's metadata."""
    return field(default=default, metadata={"spec": {"help": help, **spec}})


# Parameters that method 'seed' (the TensorFlow tutorial's algorithm, kept unchanged as the baseline) does not use:
# a request that sets them for it is refused rather than silently ignored.
SEED_IGNORES = ("preset", "strength", "preserve_colors", "style_scale", "precision")


@dataclass(frozen=True)
class StyleParams:
    """Every parameter of one style transfer, valid by construction (ProtocolError ``bad_parameter`` otherwise)."""

    method: str = _param("multiscale", "optimization method: 'multiscale' (fast, the default) or 'seed' (the "
                         "TensorFlow tutorial's)", choices=METHODS)
    strength: int = _param(50, "style against content: 0 barely styled, 100 mostly style", minimum=0, maximum=100,
                           section="main", label="Stre_ngth", slider=True)
    preset: str = _param("balanced", "quality preset: how much work per scale", choices=PRESETS,
                         choice_labels=("Preview (fast)", "Balanced", "High quality"), section="main", label="_Quality")
    preserve_colors: str = _param("off", "keep the layer's colours: 'luminance' transfers brightness only, 'match' "
                                  "recolours the style", choices=PRESERVE_COLORS, section="main",
                                  label="Preserve colo_urs", toggle=("off", "luminance"))
    style_scale: float = _param(1.0, "size of the style's brush strokes relative to the content", minimum=0.25,
                                maximum=4.0, section="main", label="Style sc_ale", slider=True)
    size: int = _param(512, "long side in pixels at which the style is computed", minimum=32, maximum=4096,
                       section="main", label="Output _detail (px, 0: automatic)", automatic=True)
    seed: int = _param(0, "random seed, for reproducible runs", minimum=0, maximum=2**31 - 1, section="advanced",
                       label="S_eed")
    steps: int = _param(0, "optimization steps (0: the preset's or method's own number)", minimum=0, maximum=10000,
                        section="advanced", label="S_teps (0: automatic)")
    backbone: str = _param("vgg19", "feature network", choices=BACKBONES)
    precision: str = _param("auto", "network precision: 'auto' uses bfloat16 where the hardware has it",
                            choices=PRECISIONS)

    def __post_init__(self) -> None:
        for spec in SPECS.values():
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))
        if self.method == "seed":
            changed = [name for name in SEED_IGNORES if getattr(self, name) != SPECS[name].default]
            if changed:
                raise ProtocolError("bad_parameter", f"method 'seed' runs the TensorFlow tutorial's algorithm "
                                    f"unchanged and does not use {', '.join(changed)}: leave "
                                    f"{'it' if len(changed) == 1 else 'them'} at the default or use 'multiscale'")

    @classmethod
    def from_wire(cls, raw: Any) -> StyleParams:
        """The ``params`` object of a request: every name known, missing ones at their defaults."""
        if not isinstance(raw, dict):
            raise ProtocolError("bad_parameter", "'params' must be an object")
        unknown = sorted(str(name) for name in set(raw) - set(SPECS))
        if unknown:
            raise ProtocolError("bad_parameter", printable(f"unknown parameter(s): {', '.join(unknown)}", 200))
        return cls(**raw)

    @classmethod
    def from_controls(cls, values: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> StyleParams:
        """From a dialog's or command line's values (keyed by field or argument name; absent ones at their
        defaults): a toggle's check box becomes its value, an automatic 0 keeps the default (the caller chooses
        the real value later); ``extra`` are wire-named parameters on top."""
        given: dict[str, Any] = {}
        for spec in SPECS.values():
            key = spec.name if spec.name in values else spec.argument
            if key not in values:
                continue
            value = values[key]
            if spec.toggle is not None and isinstance(value, bool):
                value = spec.toggle[value]
            if spec.automatic and value == 0:
                continue
            given[spec.name] = value
        return cls.from_wire({**given, **(extra or {})})

    def to_wire(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> StyleParams:
        """A copy with ``changes``, checked like any other."""
        return dataclasses.replace(self, **changes)


SPECS: dict[str, ParamSpec] = {
    f.name: ParamSpec(f.name, f.default, **f.metadata["spec"]) for f in dataclasses.fields(StyleParams)
}


def dialog_specs(section: str | None = None) -> Iterator[ParamSpec]:
    """The parameters the GIMP dialog shows (in ``section``, or all), in the order they are defined."""
    return (spec for spec in SPECS.values() if spec.section and section in (None, spec.section))
