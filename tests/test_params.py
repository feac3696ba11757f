"""The one parameter object (client/params.py): checked once when made, and the shape every control takes.

The dialog's arguments, the command line's options and the wire format are built from its specs; these tests
hold each of them to the specs, so that a parameter added there reaches all three.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from nst_server.cli import build_parser
from nst_server.client import protocol
from nst_server.client.params import SPECS, StyleParams
from nst_server.client.protocol import ProtocolError

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run


def refusal(raw) -> str:
    with pytest.raises(ProtocolError) as err:
        StyleParams.from_wire(raw)
    assert err.value.code == "bad_parameter"
    return err.value.message


def test_missing_parameters_get_their_defaults_and_each_value_is_checked():
    made = StyleParams.from_wire({"steps": 7})
    assert made.steps == 7 and made.size == SPECS["size"].default == StyleParams().size
    for bad, words in (
        ({"steps": -1}, "'steps' must be between 0 and 10000, got -1"),
        ({"style_scale": 99.0}, "'style_scale' must be between 0.25 and 4"),
        ({"strength": 1.5}, "'strength' must be an integer"),
        ({"steps": True}, "'steps' must be an integer, got True"),
        ({"size": "big"}, "'size' must be an integer"),
        ({"style_scale": float("inf")}, "'style_scale' must be a number"),
        ({"method": "magic"}, "'method' must be one of multiscale, seed; got 'magic'"),
        ({"colour": 1}, "unknown parameter(s): colour"),
        ([], "'params' must be an object"),
    ):
        assert words in refusal(bad)


def test_a_made_object_is_valid_whoever_makes_it():
    with pytest.raises(ProtocolError, match="'size' must be between 32 and 4096"):
        StyleParams(size=16)  # the engine's callers (command line, benches, tests) get the server's checks
    with pytest.raises(ProtocolError, match="'strength'"):
        StyleParams().replace(strength=101)
    assert isinstance(StyleParams(style_scale=2).style_scale, float)  # an integer where a number is asked


def test_method_seed_refuses_what_it_would_ignore():
    """The tutorial's algorithm takes no strength, quality or colour control: a request that sets one is told,
    not silently given something else."""
    message = refusal({"method": "seed", "strength": 80, "preserve_colors": "match"})
    assert "method 'seed'" in message and "strength, preserve_colors" in message and "'multiscale'" in message
    assert StyleParams.from_wire({"method": "seed", "size": 64, "steps": 10}).method == "seed"


def test_the_wire_form_goes_and_comes_back_unchanged():
    made = StyleParams(strength=80, preserve_colors="match", style_scale=1.5, size=1024, seed=3)
    wire = made.to_wire()
    assert set(wire) == set(SPECS) and StyleParams.from_wire(wire) == made
    assert protocol.SPECS is SPECS  # the protocol names the same specs


def test_every_spec_says_what_it_takes():
    for spec in SPECS.values():
        assert spec.help, spec.name
        if spec.choices:
            assert spec.default in spec.choices and spec.kind is str
            assert not spec.choice_labels or len(spec.choice_labels) == len(spec.choices)
        else:
            assert spec.kind in (int, float) and spec.minimum <= spec.default <= spec.maximum, spec.name
        if spec.toggle is not None:
            assert set(spec.toggle) <= set(spec.choices) and spec.default == spec.toggle[0]
        assert spec.section in ("", "main", "advanced") and bool(spec.section) == bool(spec.label), spec.name
        if spec.label:  # GIMP wants a mnemonic on every label of a dialog
            assert spec.label.count("_") == 1, spec.label
        assert not spec.slider or spec.kind in (int, float)


def test_the_dialog_s_values_become_parameters():
    dialog = {"strength": 70, "preset": "preview", "preserve-colors": True, "style-scale": 1.5, "seed": 7,
              "size": 0, "steps": 0, "second-style-weight": 30}  # argument names; the last is not a parameter
    made = StyleParams.from_controls(dialog)
    assert made == StyleParams(strength=70, preset="preview", preserve_colors="luminance", style_scale=1.5, seed=7)
    assert StyleParams.from_controls({**dialog, "preserve-colors": False, "size": 640}).preserve_colors == "off"
    assert StyleParams.from_controls({**dialog, "size": 640}).size == 640
    assert StyleParams.from_controls(dialog, {"backbone": "vgg16"}).backbone == "vgg16"


def test_the_command_line_has_one_option_per_parameter_with_its_default():
    parser = build_parser()
    stylize = parser._subparsers._group_actions[0].choices["stylize"]  # argparse keeps its subparsers there
    options = {action.dest: action for action in stylize._actions}
    for spec in SPECS.values():
        action = options[spec.name]
        assert action.option_strings == ["--" + spec.argument] and spec.help in action.help
        assert action.default == (0 if spec.automatic else spec.default)
        assert tuple(action.choices or ()) == spec.choices
    given = vars(parser.parse_args(["stylize", "photo.png", "style.png", "-o", "out.png"]))
    assert StyleParams.from_controls(given) == StyleParams()  # no option given: the plug-in's defaults
    given = vars(parser.parse_args(["stylize", "p.png", "s.png", "-o", "o.png", "--style-scale", "2",
                                    "--preserve-colors", "match", "--size", "800"]))
    assert StyleParams.from_controls(given) == StyleParams(style_scale=2.0, preserve_colors="match", size=800)


def test_the_socket_process_hands_the_engine_the_object_it_checked():
    from nst_server.service.validation import validate_stylize

    png = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(png, "PNG")
    header = protocol.new_header(protocol.STYLIZE, job="j1", content={"width": 64, "height": 48, "format": "RGB8"},
                                 styles=[{"name": "s.png", "weight": 1.0}], params={"strength": 70, "size": 64})
    request = validate_stylize(protocol.Message(header, [bytes(64 * 48 * 3), png.getvalue()]))
    assert request.params == StyleParams(strength=70, size=64)
    assert dataclasses.is_dataclass(request.params) and request.params.preset == "balanced"


def test_the_protocol_page_lists_every_parameter_as_defined():
    from tests.conftest import REPO

    rows = {}
    for line in (REPO / "docs" / "protocol.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[1] in ("int", "float", "choice"):
            rows[cells[0].strip("`")] = cells
    assert list(rows) == list(SPECS)
    for name, (_, kind, allowed, default, _meaning) in rows.items():
        spec = SPECS[name]
        assert kind == ("choice" if spec.choices else spec.kind.__name__), name
        assert default.strip("`") == f"{spec.default:g}" if not spec.choices else default == f"`{spec.default}`", name
        if spec.choices:
            assert allowed == ", ".join(f"`{c}`" for c in spec.choices), name
        else:
            low, high = allowed.split(" to ")
            assert float(low) == spec.minimum and (high == "2^31-1" and spec.maximum == 2**31 - 1
                                                   or float(high) == spec.maximum), name
