"""The wire protocol: signing, framing, limits and parameter validation."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nst_server import protocol
from nst_server.protocol import ProtocolError

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


def test_params_get_defaults_and_are_checked():
    params = protocol.validate_params({"steps": 7})
    assert params["steps"] == 7 and params["size"] == protocol.PARAMETERS["size"].default
    for bad, words in (
        ({"steps": -1}, "between"),
            ({"style_scale": 99.0}, "between"),
            ({"strength": 1.5}, "integer"),
        ({"steps": True}, "integer"),
        ({"size": "big"}, "integer"),
        ({"method": "magic"}, "one of"),
        ({"colour": 1}, "unknown parameter"),
    ):
        with pytest.raises(ProtocolError) as err:
            protocol.validate_params(bad)
        assert err.value.code == "bad_parameter" and words in err.value.message


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


@settings(max_examples=int(os.environ.get("NST_FUZZ_EXAMPLES", "1000")), deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_random_frames_never_crash_the_parser(frames):
    try:
        protocol.decode(KEY, frames, protocol.CLIENT_TYPES, protocol.ReplayGuard())
    except ProtocolError as exc:
        assert exc.code in protocol.ERROR_CODES
