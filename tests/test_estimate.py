"""The server tells its clients how fast it is; the plug-in's time estimate and automatic detail follow.

A real server (its engine measures itself at start-up), the plug-in's own
modules (server_speed, estimate), the same protocol check clients use.
"""

from __future__ import annotations

import pytest

from nst_server.client import estimate, protocol, server_speed
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def speed(tmp_path_factory, vgg19_weights) -> dict:
    folder = tmp_path_factory.mktemp("speed")
    server = ServerProcess(folder, vgg19_weights, env={"NST_DATA_DIR": str(folder / "data")})
    try:
        conn = server.connect()
        try:
            measured = server_speed.wait(conn, timeout=300)
        finally:
            conn.close()
    finally:
        server.stop()
    print(measured)
    assert measured is not None, "the server's pong never carried its speed"
    return measured


def test_the_server_says_how_fast_it_is_once_its_engine_has_measured_itself(speed):
    timings = speed["seconds_per_megapixel_step"]
    assert speed["precision"] in timings and set(timings) <= set(protocol.SPEED_PRECISIONS)
    assert all(0 < seconds < 1000 for seconds in timings.values())
    assert protocol.parse_speed(speed) == speed  # what the plug-in accepts, unchanged


def test_malformed_speeds_are_treated_as_unknown():
    good = {"precision": "float32", "seconds_per_megapixel_step": {"float32": 2.5},
            "texture_seconds_per_megapixel_step": {"float32": 0.6}}
    assert protocol.parse_speed(good) == good
    older = {"precision": "float32", "seconds_per_megapixel_step": {"float32": 2.5}}  # a server before texture scales
    assert protocol.parse_speed(older) == older
    for bad in (None, "fast", {}, {**good, "precision": "bfloat16"},
                {**good, "texture_seconds_per_megapixel_step": {"float32": -1}},
                {**good, "texture_seconds_per_megapixel_step": {"bfloat16": 0.6}},
                {**good, "seconds_per_megapixel_step": {"float32": 0}},
                {**good, "seconds_per_megapixel_step": {"float32": True}},
                {**good, "seconds_per_megapixel_step": {"int8": 1.0}}):
        assert protocol.parse_speed(bad) is None, bad


def test_the_plugin_remembers_the_speed_for_the_next_dialog(speed, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_STATE_DIR", str(tmp_path / "state"))
    assert server_speed.remembered("local") is None
    server_speed.remember("local", speed)
    server_speed.remember("remote tcp://gpu-box:5555", {**speed, "precision": speed["precision"]})
    assert server_speed.remembered("local") == speed
    (tmp_path / "state" / server_speed.CACHE_FILE).write_text("{not json")
    assert server_speed.remembered("local") is None  # a damaged file only loses the cache
    server_speed.remember("local", speed)
    assert server_speed.remembered("local") == speed  # ...and is written over by the next speed heard
    (tmp_path / "state" / server_speed.CACHE_FILE).write_text("[1, 2]")  # JSON, but not an object
    server_speed.remember("local", speed)
    assert server_speed.remembered("local") == speed


def test_a_damaged_remembered_speed_never_blocks_or_breaks_the_dialog(speed, tmp_path, monkeypatch):
    """The dialog reads this cache in GIMP's own process: a FIFO there would block it, nested JSON crash it."""
    import os

    monkeypatch.setenv("NST_STATE_DIR", str(tmp_path / "state"))
    cache = tmp_path / "state" / server_speed.CACHE_FILE
    cache.parent.mkdir()
    cache.write_text("[" * 100000 + "]" * 100000)
    assert server_speed.remembered("local") is None
    cache.unlink()
    os.mkfifo(cache)  # no writer: a plain open would wait forever
    assert server_speed.remembered("local") is None
    server_speed.remember("local", speed)
    assert server_speed.remembered("local") == speed


@pytest.mark.parametrize("preset", list(estimate.BUDGET_S))
def test_automatic_detail_fits_the_budget_and_never_exceeds_the_layer(speed, preset):
    budget = estimate.budget_seconds(speed, 3000, 4000, preset)
    assert budget >= estimate.BUDGET_S[preset]
    photo = estimate.auto_detail(speed, 3000, 4000, preset)
    small = estimate.auto_detail(speed, 60, 80, preset)
    print(f"{preset}: a 4000x3000 photo gets {photo} px "
          f"({estimate.describe_seconds(estimate.estimate_seconds(speed, 3000, 4000, photo, preset))}), "
          f"an 80x60 layer {small} px")
    assert estimate.MIN_DETAIL <= photo <= 4000 and small <= 80
    if photo > estimate.MIN_DETAIL:
        assert estimate.estimate_seconds(speed, 3000, 4000, photo, preset) <= budget
    if photo < 4000:
        assert estimate.estimate_seconds(speed, 3000, 4000, photo + estimate.DETAIL_STEP, preset) > budget
    # More time buys at least as much detail; a tiny layer is never worked on above its own size.
    assert estimate.auto_detail(speed, 3000, 4000, preset, budget=4 * budget) >= photo
    assert small == 80 or estimate.estimate_seconds(speed, 60, 80, 80, preset) > estimate.budget_seconds(speed, 60, 80,
                                                                                                         preset)


def test_balanced_gives_a_large_layer_half_its_long_side_in_a_few_512_px_runs():
    """Issue 17: at balanced, automatic detail gives a layer of up to 4096 px at least half its long side, on a
    slow machine too (where 2 minutes would buy a thumbnail), for at most 3.5x a 512 px run's time."""
    slow = {"precision": "float32", "seconds_per_megapixel_step": {"float32": 12.0},
            "texture_seconds_per_megapixel_step": {"float32": 3.6}}
    for height, width in ((1800, 2400), (3072, 4096), (1600, 2560)):
        size = estimate.auto_detail(slow, height, width, "balanced")
        ratio = (estimate.estimate_seconds(slow, height, width, size, "balanced")
                 / estimate.estimate_seconds(slow, height, width, 512, "balanced"))
        print(f"{width}x{height}: detail {size} px, {ratio:.2f}x a 512 px run")
        assert size >= max(height, width) / 2 and ratio <= 3.5
        assert estimate.auto_detail(slow, height, width, "high") > size or size == max(height, width)


def test_time_words_are_rounded_as_a_person_says_them():
    assert [estimate.duration(s) for s in (0.3, 7, 42, 95, 125, 3599, 4000)] == \
        ["1 s", "7 s", "40 s", "1 min 40 s", "2 min", "1 h", "1 h 5 min"]


def test_an_animation_costs_its_first_frame_then_a_shorter_follow_up_per_frame():
    """Issue 20: frames after the first run schedule.plan_followup, about half the work or less."""
    speed = {"precision": "float32", "seconds_per_megapixel_step": {"float32": 2.0},
             "texture_seconds_per_megapixel_step": {"float32": 0.6}}
    for height, width, size, preset in ((240, 320, 320, "balanced"), (1800, 2400, 2048, "high"),
                                        (64, 96, 96, "preview")):
        first = estimate.estimate_seconds(speed, height, width, size, preset, 0, "auto")
        followup = estimate.followup_seconds(speed, height, width, size, preset, 0, "auto")
        assert 0 < followup < first
        assert estimate.estimate_frames_seconds(speed, height, width, size, preset, 0, "auto", 1) == first
        assert estimate.estimate_frames_seconds(speed, height, width, size, preset, 0, "auto", 5) == \
            pytest.approx(first + 4 * followup)
