"""The wire protocol: signing, framing, limits and parameter validation."""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nst_server.client import protocol
from nst_server.client.params import StyleParams
from nst_server.client.protocol import ProtocolError

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run

KEY = b"k" * 32


def roundtrip(header, buffers=(), key=KEY, guard=None):
    return protocol.decode(key, protocol.encode(KEY, header, buffers), protocol.CLIENT_TYPES, guard)


def test_roundtrip_keeps_header_and_buffers():
    header = protocol.new_header(protocol.STYLIZE, job="j1", params={"steps": 3})
    message = roundtrip(header, [b"\x00\x01", b"style"])
    assert message.header == header
    assert message.buffers == [b"\x00\x01", b"style"]


def test_forged_signature_is_rejected_before_parsing():
    frames = protocol.encode(KEY, protocol.new_header(protocol.PING))
    frames[2] = frames[2].replace(b"ping", b"pong")
    with pytest.raises(ProtocolError) as err:
        protocol.decode(KEY, frames, protocol.CLIENT_TYPES)
    assert err.value.code == "bad_signature"


def test_tampered_pixel_buffer_is_rejected():
    frames = protocol.encode(KEY, protocol.new_header(protocol.STYLIZE, job="j"), [b"\x00" * 16, b"x"])
    frames[3] = b"\x01" + frames[3][1:]
    with pytest.raises(ProtocolError) as err:
        protocol.decode(KEY, frames, protocol.CLIENT_TYPES)
    assert err.value.code == "bad_signature"


def test_other_key_is_rejected():
    with pytest.raises(ProtocolError) as err:
        roundtrip(protocol.new_header(protocol.PING), key=b"x" * 32)
    assert err.value.code == "bad_signature"


def test_replayed_message_is_rejected():
    guard = protocol.ReplayGuard()
    frames = protocol.encode(KEY, protocol.new_header(protocol.PING))
    protocol.decode(KEY, frames, protocol.CLIENT_TYPES, guard)
    with pytest.raises(ProtocolError) as err:
        protocol.decode(KEY, frames, protocol.CLIENT_TYPES, guard)
    assert err.value.code == "replayed"


def test_stale_message_is_rejected():
    header = protocol.new_header(protocol.PING)
    header["ts"] -= 3600
    with pytest.raises(ProtocolError) as err:
        roundtrip(header, guard=protocol.ReplayGuard())
    assert err.value.code == "replayed"


def test_too_many_frames_is_rejected():
    frames = protocol.encode(KEY, protocol.new_header(protocol.PING), [b""] * protocol.MAX_FRAMES)
    with pytest.raises(ProtocolError) as err:
        protocol.decode(KEY, frames, protocol.CLIENT_TYPES)
    assert err.value.code == "too_large"


def test_wrong_version_is_named():
    frames = protocol.encode(KEY, protocol.new_header(protocol.PING))
    frames[0] = b"NST/9"
    with pytest.raises(ProtocolError) as err:
        protocol.decode(KEY, frames, protocol.CLIENT_TYPES)
    assert err.value.code == "unsupported_version"


def test_server_message_type_is_refused_from_a_client():
    with pytest.raises(ProtocolError) as err:
        roundtrip(protocol.new_header(protocol.RESULT))
    assert "unexpected message type" in err.value.message


def test_image_description_and_buffer_length():
    desc = protocol.parse_image_desc({"width": 4, "height": 2, "format": "RGBA8"})
    protocol.check_buffer(desc, b"\x00" * 32)
    with pytest.raises(ProtocolError) as err:
        protocol.check_buffer(desc, b"\x00" * 31)
    assert err.value.code == "bad_image" and "needs 32" in err.value.message
    with pytest.raises(ProtocolError) as err:
        protocol.parse_image_desc({"width": 20000, "height": 2, "format": "RGBA8"})
    assert err.value.code == "too_large"
    with pytest.raises(ProtocolError) as err:
        protocol.parse_image_desc({"width": 4, "height": 2, "format": "CMYK"})
    assert err.value.code == "bad_image"


def test_the_preview_size_a_client_asks_for_is_checked():
    message = protocol.Message(protocol.new_header(protocol.STYLIZE, job="j", content={"width": 4, "height": 2,
                               "format": "RGB8"}, styles=[{"name": "s.png", "weight": 1.0}]), [bytes(24), b"png"])
    assert protocol.parse_stylize(message).preview_long_side == protocol.PREVIEW_LONG_SIDE  # as before it existed
    for good in (0, 4, protocol.MAX_SIDE):
        message.header["preview_long_side"] = good
        assert protocol.parse_stylize(message).preview_long_side == good
    for bad in (-1, protocol.MAX_SIDE + 1, 2.5, True, "4", [4]):
        message.header["preview_long_side"] = bad
        with pytest.raises(ProtocolError) as err:
            protocol.parse_stylize(message)
        assert err.value.code == "bad_message" and "preview_long_side" in err.value.message


@settings(max_examples=int(os.environ.get("NST_FUZZ_EXAMPLES", "1000")), deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_random_frames_never_crash_the_parser(frames):
    try:
        protocol.decode(KEY, frames, protocol.CLIENT_TYPES, protocol.ReplayGuard())
    except ProtocolError as exc:
        assert exc.code in protocol.ERROR_CODES


# --- strict, bounded parsing (issue 11) ----------------------------------------------
def signed(raw_header: bytes, buffers=()) -> list[bytes]:
    return protocol.sign(KEY, [raw_header, *buffers])


def parse_error(frames) -> ProtocolError:
    with pytest.raises(ProtocolError) as err:
        protocol.decode(KEY, frames, protocol.CLIENT_TYPES, protocol.ReplayGuard())
    return err.value


def header_text(**fields) -> str:
    return json.dumps({"type": "cancel", "id": os.urandom(6).hex(), "ts": time.time(), **fields})[:-1]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused_wherever_they_are(constant):
    for raw in (header_text(job="j") + f', "x": {constant}}}', header_text() + f', "job": {constant}}}',
                header_text(job="j") + f', "params": {{"steps": [{constant}]}}}}'):
        err = parse_error(signed(raw.encode()))
        assert err.code == "bad_message" and err.authenticated
        assert "JSON" in err.message or "number" in err.message


def test_deep_nesting_is_refused_before_json_parses_it():
    deep = header_text(job="j") + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    started = time.monotonic()
    err = parse_error(signed(deep.encode()[: protocol.MAX_HEADER_BYTES]))
    assert err.code == "bad_message" and "nests" in err.message
    assert time.monotonic() - started < 1
    inner = protocol.MAX_JSON_DEPTH - 1  # the header object itself is one level
    at_limit = header_text(job="j") + ', "x": ' + "[" * inner + "]" * inner + "}"
    assert protocol.decode(KEY, signed(at_limit.encode()), protocol.CLIENT_TYPES).job == "j"
    over = header_text(job="j") + ', "x": ' + "[" * (inner + 1) + "]" * (inner + 1) + "}"
    assert "nests" in parse_error(signed(over.encode())).message
    in_strings = header_text(job="j") + ', "x": "[[[[[[[[[[[[[[[[[[[[\\"[[[[[[[[[[[[[[[[[[["}'  # text, not nesting
    assert protocol.decode(KEY, signed(in_strings.encode()), protocol.CLIENT_TYPES).job == "j"


def test_huge_integers_are_refused_while_parsing_and_named_when_in_range_checks():
    err = parse_error(signed((header_text(job="j") + ', "x": ' + "9" * 5000 + "}").encode()))
    assert err.code == "bad_message" and "digits" in err.message
    with pytest.raises(ProtocolError) as err:
        StyleParams.from_wire({"style_scale": 10**60})  # in range of the parser, out of the parameter's
    assert err.value.code == "bad_parameter" and "style_scale" in err.value.message


@pytest.mark.parametrize("job", [float("nan"), 7, None, "", "x" * 65, "two\nlines", "esc\x1b[31m", ["a"], {"a": 1}])
def test_a_job_id_is_checked_before_anything_uses_it(job):
    for msg_type in (protocol.STYLIZE, protocol.CANCEL, protocol.FINISH, protocol.STATUS):
        header = {"type": msg_type, "id": "i" + os.urandom(4).hex(), "ts": time.time(), "job": job}
        raw = json.dumps(header, allow_nan=True).encode()
        err = parse_error(signed(raw))
        assert err.code == "bad_message" and err.authenticated


@pytest.mark.parametrize("fmt", [["RGB8"], {"RGB8": 1}, 3, None, "CMYK"])
def test_an_image_format_of_any_type_is_refused_by_name(fmt):
    with pytest.raises(ProtocolError) as err:
        protocol.parse_image_desc({"width": 4, "height": 4, "format": fmt})
    assert err.value.code == "bad_image" and "format" in err.value.message


def test_choices_of_any_type_are_refused_by_name():
    for value in (["seed"], {"seed": 1}, 1.5, None):
        with pytest.raises(ProtocolError) as err:
            StyleParams.from_wire({"method": value})
        assert err.value.code == "bad_parameter" and "method" in err.value.message


def test_signed_messages_over_a_limit_are_answerable_and_unsigned_ones_are_not():
    # the layer, 5 styles and a previous frame's photo and result: one frame over
    too_many = protocol.encode(KEY, protocol.new_header(protocol.STYLIZE, job="j"), [b"p"] + [b"s"] * 7)
    err = parse_error(too_many)
    assert err.code == "too_large" and err.authenticated and "at most 10 frames" in err.message
    big_header = protocol.encode(KEY, protocol.new_header(protocol.PING, pad="x" * protocol.MAX_HEADER_BYTES))
    err = parse_error(big_header)
    assert err.code == "too_large" and err.authenticated and "header" in err.message
    for frames in (too_many, big_header):
        forged = [frames[0], b"\0" * 32, *frames[2:]]
        assert parse_error(forged).authenticated is False
    flood = [protocol.MAGIC, b"\0" * 32] + [b""] * (protocol.MAX_SIGNED_FRAMES + 1)
    err = parse_error(flood)
    assert err.code == "too_large" and not err.authenticated  # too many to be worth hashing


def test_error_messages_for_people_have_no_control_characters():
    header = protocol.error_header("internal", "boom\x1b[2J\nINFO forged\u202e" + "x" * 5000)
    text = header["message"]
    assert text.isprintable() and "\\x1b" in text and "\\n" in text and len(text) <= protocol.MAX_TEXT_CHARS
    assert protocol.printable("plain text: é ü 日本") == "plain text: é ü 日本"


def test_a_pong_speed_of_the_wrong_shape_is_treated_as_absent():
    good = {"precision": "float32", "seconds_per_megapixel_step": {"float32": 1.5}}
    assert protocol.parse_speed(good)["seconds_per_megapixel_step"] == {"float32": 1.5}
    for precision in (["float32"], {"float32": 1}, None, float("nan")):
        assert protocol.parse_speed({**good, "precision": precision}) is None


def test_the_protocol_page_lists_every_error_code_the_registry_has():
    """Two tables in docs/protocol.md: the codes a server sends, then the client's own; both are errors.ERRORS."""
    from nst_server.client.errors import ERRORS
    from tests.conftest import REPO

    text = (REPO / "docs" / "protocol.md").read_text().split("## Error codes", 1)[1].split("\n## ", 1)[0]
    tables = [[line.split("|")[1].strip().strip("`") for line in block.splitlines() if line.startswith("| `")]
              for block in text.split("\n\n") if "| code | meaning |" in block]
    assert tables == [[c for c, k in ERRORS.items() if k.wire], [c for c, k in ERRORS.items() if not k.wire]]
    assert protocol.ERROR_CODES == {c: k.meaning for c, k in ERRORS.items() if k.wire}


def test_only_registered_codes_are_made():
    from nst_server.client.errors import user_message
    from nst_server.pipe.messages import JobFailed

    with pytest.raises(ValueError, match="no protocol error code"):
        ProtocolError("oops", "a code no one registered")
    with pytest.raises(ValueError, match="no protocol error code"):
        JobFailed("job", "engine_exploded", "a code the engine made up")
    assert user_message("a_newer_server_s_code", "it broke") == "Style transfer failed: it broke"


def test_every_code_the_code_raises_is_registered():
    """Walk the sources: each literal code given to ClientError (its second argument) or ProtocolError (its first)."""
    import ast

    from nst_server.client.errors import ERRORS
    from tests.conftest import REPO

    used = set()
    for path in [*(REPO / "nst_server").rglob("*.py"), *(REPO / "gimp_plugin").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                index = {"ClientError": 1, "ProtocolError": 0}.get(node.func.id)
                if index is not None and len(node.args) > index and isinstance(node.args[index], ast.Constant):
                    used.add((node.args[index].value, path.name))
    assert used and {(code, where) for code, where in used if code not in ERRORS} == set()


# --- frames mode: a stylize carries the previous animation frame (issue 20) ------------------------------------
LAYER = {"width": 64, "height": 48, "format": "RGB8"}
LAYER_BYTES = 64 * 48 * 3


def style_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def frames_message(previous=LAYER, styles=1, extras=2, extra_bytes=LAYER_BYTES, **params) -> protocol.Message:
    """A stylize with ``styles`` style files and ``extras`` buffers of ``extra_bytes`` after them."""
    header = protocol.new_header(protocol.STYLIZE, job="j", content=dict(LAYER), previous=previous,
                                 styles=[{"name": f"s{i}.png", "weight": 1.0} for i in range(styles)],
                                 params={"size": 64, **params})
    return protocol.Message(header, [bytes(LAYER_BYTES), *[style_png()] * styles,
                                     *[bytes([i + 1]) * extra_bytes for i in range(extras)]])


def refusal(message: protocol.Message) -> ProtocolError:
    from nst_server.service.validation import validate_stylize

    with pytest.raises(ProtocolError) as err:
        validate_stylize(message)
    return err.value


def test_a_previous_frame_reaches_the_engine_after_the_style_files():
    from nst_server.service.validation import validate_stylize

    message = frames_message(styles=2)
    assert protocol.parse_stylize(message).previous == protocol.ImageDesc(64, 48, "RGB8")
    request = validate_stylize(message)
    assert request.previous == (b"\x01" * LAYER_BYTES, b"\x02" * LAYER_BYTES)  # photo, then result
    assert request.style_files == (style_png(), style_png())  # not counted as styles
    assert "\\x01" not in repr(request)  # the pixels stay out of logs and tracebacks
    without = frames_message(previous=None, extras=0)  # null or absent: an ordinary job
    assert validate_stylize(without).previous is None and protocol.parse_stylize(without).previous is None


@pytest.mark.parametrize("other", [{"width": 63}, {"height": 96}, {"format": "RGBA8"}, {"format": "RGB32F"}])
def test_a_previous_frame_of_another_size_or_format_is_refused(other):
    err = refusal(frames_message(previous={**LAYER, **other}))
    assert err.code == "bad_image" and "the previous frame must have the layer's size and format" in err.message
    assert "64x48 RGB8" in err.message  # the layer's, for the person reading it


def test_a_previous_frame_without_its_photo_and_result_is_a_bad_message():
    for extras in (0, 1):
        err = refusal(frames_message(extras=extras))
        assert err.code == "bad_message", extras
    # styles listed as one, but the files after the layer are one style and a single extra: not a frame pair
    err = refusal(frames_message(styles=2, extras=1))
    assert err.code == "bad_message" and "style files came" in err.message


def test_the_previous_frame_buffers_are_checked_like_the_layer():
    err = refusal(frames_message(extra_bytes=LAYER_BYTES - 1))
    assert err.code == "bad_image" and "previous frame photo" in err.message and str(LAYER_BYTES) in err.message
    message = frames_message()
    message.buffers[-1] = message.buffers[-1] + b"x"
    err = refusal(message)
    assert err.code == "bad_image" and "previous frame result" in err.message


def test_a_previous_frame_needs_the_multiscale_method():
    err = refusal(frames_message(method="seed"))
    assert err.code == "bad_parameter" and "multiscale" in err.message and "previous frame" in err.message


def test_four_styles_and_a_previous_frame_fit_the_frame_limit_and_one_more_does_not():
    from nst_server.service.validation import validate_stylize

    full = frames_message(styles=protocol.MAX_STYLES)
    frames = protocol.encode(KEY, full.header, full.buffers)
    assert len(frames) == protocol.MAX_FRAMES == 10
    request = validate_stylize(protocol.decode(KEY, frames, protocol.CLIENT_TYPES))
    assert len(request.style_files) == protocol.MAX_STYLES and request.previous is not None
    over = protocol.encode(KEY, full.header, [*full.buffers, style_png()])
    err = parse_error(over)
    assert err.code == "too_large" and "at most 10 frames" in err.message


def test_a_pong_lists_its_features_and_an_older_servers_pong_lists_none():
    from nst_server.client import events

    def pong(**fields):
        return events.pong(protocol.Message(protocol.new_header(protocol.PONG, **fields)))

    assert pong(features=list(protocol.FEATURES)).features == ("previous",)
    assert pong().features == ()  # a server from before the field
    for odd in (None, "previous", {"previous": 1}, 3):
        assert pong(features=odd).features == ()
    assert pong(features=["previous", 7, None, "later"]).features == ("previous", "later")


class Loopback:
    """A transport whose server is this process: what the client sends is kept, and the answer is a result."""

    def __init__(self) -> None:
        from nst_server.client import runtime

        self.info = runtime.RuntimeInfo("inproc://none", KEY, 1, "test")
        self.via = "a loopback"
        self.sent: list[list[bytes]] = []
        self.answers: list[list[bytes]] = []

    def send(self, frames, wait=True):
        self.sent.append(frames)
        header = protocol.decode(KEY, frames, protocol.CLIENT_TYPES).header
        result = protocol.new_header(protocol.RESULT, job=header["job"], image=header["content"], elapsed=0.1)
        self.answers.append(protocol.encode(KEY, result, [b"\x07" * LAYER_BYTES]))

    def receive(self, timeout):
        return self.answers.pop(0) if self.answers else None

    def close(self):
        pass


def test_the_client_sends_the_previous_frame_as_the_server_reads_it():
    from nst_server.client.connection import Connection
    from nst_server.service.validation import validate_stylize

    transport = Loopback()
    conn = Connection(transport)
    desc, photo, result = protocol.ImageDesc(64, 48, "RGB8"), b"\x01" * LAYER_BYTES, b"\x02" * LAYER_BYTES
    style = protocol.StyleImage("s.png", style_png())
    assert conn.stylize(bytes(LAYER_BYTES), desc, [style], {"size": 64}, previous=(photo, result)) == b"\x07" * LAYER_BYTES
    request = validate_stylize(protocol.decode(KEY, transport.sent[-1], protocol.CLIENT_TYPES))
    assert request.previous == (photo, result) and request.style_files == (style.data,)
    conn.stylize(bytes(LAYER_BYTES), desc, [style], {"size": 64})  # without: as before frames mode
    message = protocol.decode(KEY, transport.sent[-1], protocol.CLIENT_TYPES)
    assert "previous" not in message.header and len(message.buffers) == 2


def test_the_protocol_page_names_every_field_of_a_stylize_and_a_pong_and_the_frame_limit():
    """docs/protocol.md's ``stylize`` and ``ping`` rows, and its limits, in step with the code."""
    import dataclasses

    from nst_server.client import events
    from tests.conftest import REPO

    text = (REPO / "docs" / "protocol.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    for name in (f.name for f in dataclasses.fields(protocol.StylizeFields)):
        assert f"`{name}`" in rows["`stylize`"], name
    for name in (f.name for f in dataclasses.fields(events.Pong)):
        assert f"`{name}`" in rows["`ping`"], name
    assert all(f'`["{feature}"]`' in rows["`ping`"] for feature in protocol.FEATURES)
    assert f"| frames per message | {protocol.MAX_FRAMES} (" in text
    assert f"more than {protocol.MAX_FRAMES} frames" in text
    assert f"{protocol.MAX_FRAMES - 1} x the buffer limit" in text
