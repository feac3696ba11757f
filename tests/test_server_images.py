"""Issue 18, items 4, 5 and 7 (style memory): tiny images, deep style files, and huge ones.

* A 1x1 layer at the default strength, or a 1x1 style with ``preserve_colors: match``, reached the engine
  and failed with ``internal`` (the covariance of one pixel is NaN, then LinAlgError).
* A 16-bit greyscale PNG or TIFF style decoded 99.8% white and a float32 TIFF all black (Pillow's
  ``convert("RGB")`` clips), and the job went on after a blank style.
* An 8000 x 8000 style PNG of 62 KB cost the engine 4 GB.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst_server import client
from nst_server.client import protocol
from nst_server.client.params import SPECS
from nst_server.engine import images
from nst_server.pipe.image_checks import UnreadableImage
from tests.support.servers import SMALL, layer, proc_status_kb, style_file

SERVER_MEASURED = True


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def noise_style(width: int, height: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return encoded(Image.fromarray(pixels))


def run(conn: client.Connection, layer_size: tuple[int, int], style: bytes, params: dict) -> bytes:
    desc, pixels = layer(*layer_size)
    result = conn.stylize(pixels, desc, [protocol.StyleImage("s.png", style)], {**SMALL, **params}, silence_timeout=120)
    assert len(result) == len(pixels)
    return result


# --- item 4: tiny layers and styles ---------------------------------------------------------------------
@pytest.mark.parametrize(("layer_size", "style_size", "params"), [
    ((1, 1), (64, 48), {}),  # the default strength recolours the layer to the style's palette
    ((1, 1), (64, 48), {"preserve_colors": "luminance"}),
    ((2, 1), (64, 48), {"strength": 100}),
    ((40, 30), (1, 1), {"preserve_colors": "match"}),  # the style recoloured to the layer's palette
    ((1, 1), (1, 1), {"preserve_colors": "match"}),
    ((1, 1), (1, 1), {"method": "seed"}),
])
def test_one_pixel_layers_and_styles_get_a_result(conn, layer_size, style_size, params):
    run(conn, layer_size, noise_style(*style_size), params)


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(layer_w=st.integers(1, 24), layer_h=st.integers(1, 24), style_w=st.integers(1, 24), style_h=st.integers(1, 24),
       preserve=st.sampled_from(SPECS["preserve_colors"].choices), strength=st.sampled_from([0, 50, 100]),
       scale=st.sampled_from([0.25, 1.0, 4.0]))
def test_tiny_images_get_a_result_or_too_small_never_internal(server, layer_w, layer_h, style_w, style_h, preserve,
                                                              strength, scale):
    with server.connect() as conn:
        try:
            run(conn, (layer_w, layer_h), noise_style(style_w, style_h),
                {"preserve_colors": preserve, "strength": strength, "style_scale": scale})
        except client.ClientError as exc:
            assert exc.code == "too_small", (exc.code, str(exc))


def test_colour_statistics_of_one_pixel_are_finite():
    from nst_server.engine import colour

    one = np.full((1, 1, 3), 0.25, np.float32)
    photo = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    for source, reference in ((one, photo), (photo, one), (one, one)):
        assert np.isfinite(colour.match_colours(source, reference)).all()
    mean, cov = colour.palette([(one, 1.0)])
    assert np.allclose(mean, 0.25) and np.isfinite(cov).all()
    assert np.isfinite(colour.recolour(one, mean, cov)).all()


# --- item 5: 16-bit and float style files ---------------------------------------------------------------
GRADIENT = np.linspace(0.0, 1.0, 64 * 48).reshape(48, 64)  # a grey ramp from black to white


def deep_grey_files() -> dict[str, bytes]:
    ramp16 = np.round(GRADIENT * 65535).astype(np.uint16)
    return {
        "16-bit grey PNG": encoded(Image.fromarray(ramp16)),
        "16-bit grey TIFF": encoded(Image.fromarray(ramp16), "TIFF"),
        "16-bit big-endian grey TIFF": encoded(Image.fromarray(ramp16.astype(">u2")), "TIFF"),
        "float32 TIFF": encoded(Image.fromarray(GRADIENT.astype(np.float32)), "TIFF"),
        "32-bit integer TIFF": encoded(Image.fromarray(ramp16.astype(np.int32)), "TIFF"),
        "float32 TIFF in 0-255": encoded(Image.fromarray((GRADIENT * 255).astype(np.float32)), "TIFF"),
        "32-bit integer TIFF, full range": encoded(Image.fromarray((GRADIENT * 2e9).astype(np.int32)), "TIFF"),
    }


@pytest.mark.parametrize("kind", list(deep_grey_files()))
def test_deep_greyscale_style_files_keep_their_tones(kind):
    decoded = images.decode_style(deep_grey_files()[kind], kind)
    assert decoded.shape == (48, 64, 3)
    assert np.abs(decoded[..., 0] - GRADIENT).max() < 1 / 255, kind  # the ramp, not white or black
    assert np.array_equal(decoded[..., 0], decoded[..., 2])


def test_a_float_style_with_samples_that_are_not_numbers_is_refused_by_name(conn):
    ramp = GRADIENT.astype(np.float32)
    ramp[3, 3] = np.nan
    data = encoded(Image.fromarray(ramp), "TIFF")
    with pytest.raises(UnreadableImage, match="not numbers"):
        images.decode_style(data, "nan.tif")
    with pytest.raises(client.ClientError) as refused:
        run(conn, (32, 32), data, {})
    assert refused.value.code == "bad_style_image" and "not numbers" in str(refused.value)


def test_a_16_bit_grey_style_is_used_as_the_same_picture_in_8_bits(conn):
    """Through the server: the job's result after a 16-bit style is the one after its 8-bit copy, not the one
    after a white image (what the 16-bit file used to decode to)."""
    ramp8 = encoded(Image.fromarray(np.round(GRADIENT * 255).astype(np.uint8)))
    white = encoded(Image.new("L", (64, 48), 255))
    results = {name: np.frombuffer(run(conn, (40, 30), data, {}), np.uint8).astype(float)
               for name, data in (("8-bit", ramp8), ("16-bit", deep_grey_files()["16-bit grey PNG"]), ("white", white))}
    near, far = np.abs(results["16-bit"] - results["8-bit"]).mean(), np.abs(results["white"] - results["8-bit"]).mean()
    print(f"\nmean difference from the 8-bit copy's result: 16-bit {near:.2f}, white {far:.2f} (of 255)")
    assert near < 0.2 * far


# --- item 7: a style's decoded size is bounded by memory ------------------------------------------------
def engine_peak_mb(conn: client.Connection) -> float:
    return proc_status_kb(conn.ping().engine_pid, "VmHWM") / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_style_of_8000_by_8000_pixels_costs_the_engine_little(conn):
    huge = encoded(Image.new("RGB", (8000, 8000), (200, 120, 40)))
    assert len(huge) < 1 << 20  # a small file of huge dimensions, inside the 64-megapixel limit
    run(conn, (32, 32), style_file().data, {})  # the engine warm, its peak set by ordinary work
    before = engine_peak_mb(conn)
    run(conn, (32, 32), huge, {})
    grown = engine_peak_mb(conn) - before
    print(f"\nan 8000x8000 style ({len(huge) >> 10} KB) raised the engine's peak memory by {grown:.0f} MB")
    assert grown < 1024


# --- an animation's later frame (issue 20): its previous frame costs little memory -------------------------------
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_later_animation_frame_raises_the_engines_peak_memory_by_little(conn):
    """A 4096 px layer's frame after the first brings the previous photo and result along: held as float32 at the
    layer's size, and the photo recoloured at full size too, they raised the engine's peak by 0.7 GB over the first
    frame's, past the 4 GB bound.  Here a 2048x1536 layer (a float32 RGB copy: 36 MB) at small detail, where the
    layer's own arrays set the peak: that way a later frame added 6.7 such copies; kept as float16 at the detail,
    seen (recoloured) only where resized, and the bytes let go once decoded, 2.5."""
    desc, pixels = layer(2048, 1536)
    painting = [style_file()]
    params = {**SMALL, "size": 64}
    first = conn.stylize(pixels, desc, painting, params, silence_timeout=120)  # the peak set by one frame
    before = engine_peak_mb(conn)
    later = conn.stylize(pixels, desc, painting, params, silence_timeout=120, previous=(pixels, first))
    assert len(later) == len(pixels)
    grown, copy = engine_peak_mb(conn) - before, desc.width * desc.height * 3 * 4 / 2**20
    print(f"\na later frame raised the engine's peak memory by {grown:.0f} MB (a float32 copy: {copy:.0f} MB)")
    assert grown < 4 * copy
