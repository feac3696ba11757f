"""Property-based fuzzing of the running server with signed messages (issue 11).

Every example is one signed message, built from a valid one of a random type
(``stylize``, ``cancel``, ``finish``, ``status``, ``ping``) by replacing fields
anywhere in its header with arbitrary JSON: NaN and Infinity, nesting thousands
deep, wrong types, integers of thousands of digits, strings past the header
limit, control characters, unknown keys; sometimes the header is not even
JSON, and the buffers are of any number and content.  The server must answer
each with ``pong``, ``accepted`` or an error whose code is not ``internal`` and
whose message is printable text for people; it must stay up; and after every
batch of examples a good client must get a real (tiny) result and a ping
answered within 0.5 s.  Meanwhile a signed peer sends 100 requests a second and
never reads an answer (issue 18).  Some examples are valid jobs with a style file
from a corpus of odd image modes (16-bit and float greyscale, one pixel,
palette with transparency, CMYK, animated...): those run to their end, and must
end with a result or a clear error, never ``internal``.

1,000 examples in the normal suite; a long run: ``NST_FUZZ_EXAMPLES=20000
python -m pytest -s tests/test_server_fuzz.py`` (prints its figures).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst_server import client
from nst_server.client import params, protocol
from tests.conftest import REPO
from tests.support.servers import SMALL, ServerProcess, layer, style_file

SERVER_OPTIONS = ("--max-megapixels", "0.25")

EXAMPLES = int(os.environ.get("NST_FUZZ_EXAMPLES", "1000"))
BATCH = 100  # examples between two checks that a good client is served

PIXELS_DESC, PIXELS = layer(16, 16)
STYLE = style_file(long_side=32).data


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def _encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _odd_style_files() -> list[bytes]:
    """Style files in the modes that went wrong (issue 18) or that Pillow decodes its own way: deep greyscale
    (16-bit, 32-bit integer, float, a float with NaN), one pixel, grey with alpha, a palette with
    transparency, CMYK, bilevel, animated."""
    ramp = np.linspace(0.0, 1.0, 40 * 30, dtype=np.float32).reshape(30, 40)
    nan = ramp.copy()
    nan[0, 0] = np.nan
    palette = Image.new("P", (24, 24), 3)
    palette.info["transparency"] = 3
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    return [
        _encoded(Image.fromarray(np.round(ramp * 65535).astype(np.uint16)), "PNG"),
        _encoded(Image.fromarray(np.round(ramp * 65535).astype(np.uint16)), "TIFF"),
        _encoded(Image.fromarray(ramp), "TIFF"),
        _encoded(Image.fromarray(ramp * 300), "TIFF"),
        _encoded(Image.fromarray(nan), "TIFF"),
        _encoded(Image.fromarray((ramp * 2e9).astype(np.int32)), "TIFF"),
        _png(1, 1), _png(1, 1, "LA"), _encoded(palette, "PNG"), _png(30, 20, "1"),
        _encoded(Image.new("CMYK", (24, 24), (0, 128, 255, 0)), "JPEG"),
        _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        _encoded(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        _encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
    ]


ODD_STYLE_FILES = _odd_style_files()
STYLE_FILES = [STYLE, _png(20, 50), _png(16500, 100, "1"), _png(64, 64)[:-40], b"GIF89a", b"\x89PNG\r\n\x1a\n",
               *ODD_STYLE_FILES]


class Raw(str):
    """JSON text written as it is (what json.dumps would never write)."""


def json_text(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    return json.dumps(value, allow_nan=True)  # NaN and Infinity as Python writes them


raw_fragments = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0", "[]", "{}"]).map(Raw),
    st.one_of(st.integers(2, 20), st.integers(2, 3000)).map(lambda n: Raw("[" * n + "]" * n)),
    st.one_of(st.integers(2, 20), st.integers(2, 3000)).map(lambda n: Raw('{"a":' * n + "1" + "}" * n)),
    st.integers(20, 5000).map(lambda n: Raw("9" * n)),  # integers of many digits
    st.integers(1, 70_000).map(lambda n: "x" * n),  # strings up to past the header limit
)
known_values = st.sampled_from([*protocol.PIXEL_FORMATS, *params.METHODS, *params.PRESETS, "luminance", "match",
                                0, 1, 16, 32, 4096, 16384, 16385, 2**31, -1, 0.25, 4.0, "", "ping", "stylize"])
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**70), max_value=10**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Cs"]), max_size=10),  # Cs: lone surrogates
    known_values, raw_fragments,
)
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)

ENVELOPE = [("type",), ("id",), ("ts",), ("job",)]  # replaced less often: most such messages stop at parsing
FIELDS = [("content",), ("content", "width"), ("content", "height"), ("content", "format"), ("styles",), ("styles", 0),
          ("styles", 0, "name"), ("styles", 0, "weight"), ("styles", 1), ("params",),
          *[("params", name) for name in params.SPECS], ("params", "unknown"),
          ("previous",), ("previous", "width"), ("previous", "format")]  # ("previous", ...): when the recipe has one
near_valid = st.one_of(known_values, st.integers(-5, 5000), st.floats(-1, 10), st.text(max_size=12))

buffer_sets = st.one_of(
    st.sampled_from(["valid", "valid+style", "valid+previous"]),  # +previous: the frame before (frames mode)
    st.sampled_from(ODD_STYLE_FILES).map(lambda style: ["corpus", style]),  # a valid job with an odd style: run to its end
    st.lists(st.sampled_from(STYLE_FILES), min_size=1, max_size=2).map(lambda styles: [PIXELS, *styles]),
    st.lists(st.binary(max_size=300), max_size=protocol.MAX_FRAMES - 2),
    st.lists(st.sampled_from([b"", PIXELS, STYLE, b"\x89PNG\r\n\x1a\n"]), max_size=protocol.MAX_FRAMES - 1),
)


@st.composite
def fuzzed_messages(draw) -> dict[str, Any]:
    """A recipe; the message itself is built at send time, so that its id and time are fresh."""
    return {
        "type": draw(st.sampled_from([protocol.STYLIZE, protocol.STYLIZE, protocol.CANCEL, protocol.FINISH,
                                      protocol.STATUS, protocol.PING])),
        "replace": {**draw(st.dictionaries(st.sampled_from(FIELDS), st.one_of(near_valid, json_values), max_size=4)),
                    **(draw(st.dictionaries(st.sampled_from(ENVELOPE), json_values, max_size=1))
                       if draw(st.integers(0, 3)) == 0 else {})},
        "unknown": draw(st.dictionaries(st.text(max_size=12).filter(lambda k: k not in {f[0] for f in FIELDS + ENVELOPE}),
                                        st.one_of(near_valid, json_values), max_size=2)),
        "buffers": draw(buffer_sets),
        "previous": draw(st.integers(0, 3)) == 0,  # a stylize that carries the previous animation frame
        "not_json": draw(st.one_of(st.none(), st.binary(max_size=200))) if draw(st.integers(0, 19)) == 0 else None,
    }


def build(recipe: dict[str, Any], serial: int) -> tuple[bytes, list[bytes]]:
    header: dict[str, Any] = protocol.new_header(recipe["type"], job=f"fuzz-{serial}")
    if recipe["type"] == protocol.STYLIZE:
        header.update(content=PIXELS_DESC.to_json(), styles=[{"name": "s.png", "weight": 1.0}], params=dict(SMALL))
        if recipe["previous"]:
            header["previous"] = PIXELS_DESC.to_json()
    elif recipe["type"] == protocol.PING:
        del header["job"]
    for path, value in recipe["replace"].items():
        target: Any = header
        for key in path[:-1]:  # a parent replaced by a non-container keeps its replacement
            target = target.get(key) if isinstance(target, dict) else (
                target[key] if isinstance(target, list) and isinstance(key, int) and key < len(target) else None)
        if isinstance(target, dict):
            target[path[-1]] = value
        elif isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target):
            target[path[-1]] = value
    header.update(recipe["unknown"])
    text = recipe["not_json"] if recipe["not_json"] is not None else json_text(header).encode("utf-8", "surrogatepass")
    buffers = recipe["buffers"]
    if isinstance(buffers, list) and buffers and buffers[0] == "corpus":
        buffers = [PIXELS, buffers[1]]
    elif buffers == "valid":
        buffers = [PIXELS, STYLE]
    elif buffers == "valid+style":
        buffers = [PIXELS, STYLE, STYLE]
    elif buffers == "valid+previous":  # the previous frame's photo and result, here the layer itself
        buffers = [PIXELS, STYLE, PIXELS, PIXELS]
    if recipe["type"] == protocol.STYLIZE and "styles" in header and isinstance(header["styles"], list) and \
            len(buffers) >= 2 and ("styles",) not in recipe["replace"]:
        extra = 2 if isinstance(header.get("previous"), dict) and len(buffers) >= 4 else 0  # photo and result
        header["styles"] = (header["styles"] * len(buffers))[: len(buffers) - 1 - extra]  # as many as the files sent
        text = text if recipe["not_json"] is not None else json_text(header).encode("utf-8", "surrogatepass")
    return text, list(buffers)


@pytest.fixture
def non_reading_peer(server):
    """A signed client that sends 100 ``ping`` and ``status`` requests a second and never reads an answer
    (tests/support/flooder.py), for as long as the fuzz runs."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.flooder", str(server.runtime_dir), "100", "endless"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "sent", proc.stderr.read()
    yield proc
    assert proc.poll() is None, "the non-reading peer stopped"
    proc.kill()
    proc.wait()


def good_client_is_served(srv: ServerProcess, pings: list[float] | None = None) -> None:
    with srv.connect(10) as conn:
        desc, pixels = layer(32, 24)
        assert len(conn.stylize(pixels, desc, [style_file()], SMALL, silence_timeout=60)) == len(pixels)
        if pings is not None:  # a ping answered at once, whatever the non-reading peer is doing
            started = time.monotonic()
            assert conn.ping(10) is not None
            pings.append(time.monotonic() - started)


def answer(conn: client.Connection, timeout: float = 30.0) -> protocol.Message:
    reply = conn.receive(timeout)
    assert reply is not None, "a signed message got no answer"
    if reply.type == protocol.ERROR:
        code, message = reply.header["code"], reply.header["message"]
        assert code in protocol.ERROR_CODES and code != "internal", reply.header
        assert message and message.isprintable() and len(message) <= protocol.MAX_TEXT_CHARS, reply.header
        assert "Traceback" not in message and " object at 0x" not in message, reply.header
    return reply


def test_signed_fuzz_never_takes_the_server_down_and_good_clients_are_served(server, non_reading_peer):
    conn = server.connect()
    baseline_rss = server.rss_mb()
    started = time.monotonic()
    counts = {"examples": 0, "accepted": 0, "pong": 0, "batches_served": 0, "odd_styles_run": 0}
    codes: dict[str, int] = {}
    pings: list[float] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(recipe=fuzzed_messages())
    def one_message(recipe):
        counts["examples"] += 1
        text, buffers = build(recipe, counts["examples"])
        conn.transport.send(protocol.sign(conn.info.key, [text, *buffers]))
        reply = answer(conn)
        assert server.process.poll() is None, "the server died"
        if reply.type == protocol.ACCEPTED:  # a valid request: stop it (one with an odd style: let it run), and wait
            counts["accepted"] += 1
            if isinstance(recipe["buffers"], list) and recipe["buffers"][:1] == ["corpus"]:
                counts["odd_styles_run"] += 1
            else:
                conn.cancel(reply.header["job"])
            while (end := answer(conn, 60)).type not in (protocol.CANCELLED, protocol.ERROR, protocol.RESULT):
                pass
            reply = end
            conn.send(protocol.new_header(protocol.PING))  # a late answer to the cancel, if any, comes before this pong
            while answer(conn).type != protocol.PONG:
                pass
        if reply.type == protocol.ERROR:  # answer() checked it
            codes[reply.header["code"]] = codes.get(reply.header["code"], 0) + 1
        else:
            assert reply.type in (protocol.PONG, protocol.CANCELLED, protocol.RESULT), reply.header
            counts["pong"] += reply.type == protocol.PONG
        if counts["examples"] % BATCH == 0:
            good_client_is_served(server, pings)
            counts["batches_served"] += 1

    try:
        one_message()
    finally:
        conn.close()
    good_client_is_served(server, pings)
    took = time.monotonic() - started
    print(f"\nfuzz: {counts['examples']} signed messages in {took:.0f} s ({counts['accepted']} accepted, of which "
          f"{counts['odd_styles_run']} with an odd style file run to their end, the rest cancelled; "
          f"{counts['pong']} pongs, errors {dict(sorted(codes.items()))}); a good client served after each of "
          f"{counts['batches_served']} batches of {BATCH} and at the end, its slowest ping "
          f"{max(pings) * 1000:.0f} ms, while a peer sent 100 requests a second and read nothing; socket process RSS "
          f"{baseline_rss:.1f} MB before, {server.rss_mb():.1f} MB after")
    assert counts["examples"] >= min(EXAMPLES, 100)
    assert max(pings) < 0.5, pings
