"""Issue 18, items 3 and 7 (modes): the files the server keeps are bounded, read defensively, rewritten when
wrong, and private.

A ``speed.json`` nested too deep made the engine fail at every start (RecursionError: restarted 11 times a
minute, every job ``internal``); a FIFO there blocked the engine for ever; impossible numbers were never
measured again; the file was 0644.  Keras's own settings file in the server's folder had the same weakness.
"""

from __future__ import annotations

import json
import math
import os
import stat
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from nst_server.client import paths
from nst_server.engine import speed
from tests.support.servers import SMALL, ServerProcess, layer, style_file

NESTED = "[" * 100_000 + "]" * 100_000  # json.loads: RecursionError


def sound() -> speed.Speed:
    return speed.Speed("float32", {"float32": 1.5, "bfloat16": 3.0}, {"float32": 0.4, "bfloat16": 0.8},
                       "vgg19", speed.machine(), "then")


def entry(**changes) -> dict:
    """A cache entry for this machine, with some fields changed."""
    data = asdict(sound())
    for key, value in changes.items():
        if key in ("float32", "bfloat16"):
            data["seconds_per_megapixel_step"][key] = value
        else:
            data[key] = value
    return data


IMPOSSIBLE = {
    "negative": entry(float32=-1.0),
    "zero": entry(float32=0, bfloat16=0),
    "not a number": entry(bfloat16=math.nan),  # json.dumps writes NaN, json.loads reads it
    "infinite": entry(bfloat16=math.inf),
    "beyond any machine": entry(bfloat16=1e300),
    "text": entry(float32="fast"),
    "true": entry(float32=True),
    "a precision missing": {**entry(), "seconds_per_megapixel_step": {"float32": 1.5}},
    "an unknown precision": entry(precision="float16"),
    "the slower precision chosen": entry(precision="bfloat16"),
    "timings not an object": entry(seconds_per_megapixel_step=[1.5, 3.0]),
    "a negative texture timing": entry(texture_seconds_per_megapixel_step={"float32": -0.3, "bfloat16": 0.6}),
    "texture timings missing": {k: v for k, v in entry().items() if k != "texture_seconds_per_megapixel_step"},
    "a field missing": {k: v for k, v in entry().items() if k != "measured_at"},
    "another backbone's": entry(backbone="vgg16"),
}


def damage(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "nested":
        path.write_text(NESTED)
    elif kind == "nested entry":
        path.write_text('{"vgg19": ' + NESTED + "}")
    elif kind == "huge":  # sound JSON, with a sound entry, but far over any cache's size
        path.write_text(json.dumps({"vgg19": entry(), "padding": "x" * (8 << 20)}))
    elif kind == "not an object":
        path.write_text("[1, 2, 3]")
    elif kind == "a folder":
        path.mkdir()
    elif kind == "a link":
        (path.parent / "elsewhere.json").write_text(json.dumps({"vgg19": entry()}))
        path.symlink_to(path.parent / "elsewhere.json")
    else:
        path.write_text(json.dumps({"vgg19": IMPOSSIBLE[kind]}))


def within(seconds: float, call):
    """``call()``'s value, or AssertionError when it has not returned within ``seconds`` (it blocked)."""
    box: list = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"blocked for more than {seconds} s"
    return box[0]


@pytest.mark.parametrize("kind", ["nested", "nested entry", "fifo", "huge", "not an object", "a link",
                                  *IMPOSSIBLE])
def test_a_damaged_speed_cache_counts_as_none_at_once_and_the_next_measurement_is_written_over_it(isolated_dirs,
                                                                                                   kind):
    path = speed.cache_path()
    damage(path, kind)
    try:
        assert within(10, speed.cached) is None  # measured again: never an exception, never a block
    finally:
        if kind == "fifo":  # let a reader that blocked go
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader: nothing blocked
    # What load_or_measure does with the new measurement: it replaces the damaged file, privately.
    paths.update_json_cache(path, "vgg19", asdict(sound()))
    assert speed.cached() == sound()
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600


def test_a_cache_other_users_can_read_is_made_private_when_read(isolated_dirs):
    path = speed.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"vgg19": entry()}))
    os.chmod(path, 0o644)
    assert speed.cached() == sound()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_cache_in_a_folder_it_cannot_replace_only_loses_the_cache(isolated_dirs):
    path = speed.cache_path()
    damage(path, "a folder")
    assert speed.cached() is None
    paths.update_json_cache(path, "vgg19", asdict(sound()))  # no exception: the next start measures again
    assert speed.cached() is None


def private_everywhere(*folders: Path) -> list[str]:
    """Every file and folder under ``folders`` that another user could open (empty when all are private)."""
    loose = []
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in [".", *dirs, *files]:
                path = Path(root) / name
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                if mode & 0o077 and not path.is_symlink():
                    loose.append(f"{path} {mode:o}")
    return loose


def test_every_file_the_server_writes_is_private_and_a_loose_cache_is_tightened(tmp_path, vgg19_weights):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    data.mkdir()
    (data / "speed.json").write_text(json.dumps({"vgg19": entry()}))  # as an older server left it: 0644
    os.chmod(data / "speed.json", 0o644)
    srv = ServerProcess(tmp_path, vgg19_weights, env={"NST_DATA_DIR": str(data), "HOME": str(home)})
    try:
        with srv.connect() as conn:
            desc, pixels = layer(32, 32)
            conn.stylize(pixels, desc, [style_file()], SMALL, silence_timeout=120)
            assert conn.ping().speed is not None
        written = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
        assert Path("data/keras/keras.json") in written and Path("state/server.log") in written, written
        assert private_everywhere(data / "keras", srv.state_dir, srv.runtime_dir, data / "speed.json") == []
    finally:
        assert srv.stop() == 0


def test_a_broken_speed_cache_and_keras_settings_never_stop_a_job_and_are_rewritten(tmp_path, vgg19_weights):
    """A FIFO at speed.json blocked the engine for ever; a nested keras.json made it fail at every start."""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    damage(data / "speed.json", "fifo")
    damage(data / "keras" / "keras.json", "nested")
    srv = ServerProcess(tmp_path, vgg19_weights, env={"NST_DATA_DIR": str(data), "HOME": str(home)})
    try:
        with srv.connect() as conn:
            started = time.monotonic()
            while (pong := conn.ping(10)) is not None and pong.speed is None:  # measuring: minutes on a loaded machine
                assert time.monotonic() - started < 900, "the engine never measured its speed"
                assert "engine process stopped" not in srv.log(), srv.log()
                time.sleep(2)
            assert pong is not None
            desc, pixels = layer(32, 32)
            assert len(conn.stylize(pixels, desc, [style_file()], SMALL, silence_timeout=120)) == len(pixels)
        assert speed.from_cache_entry(paths.read_json_object(data / "speed.json")["vgg19"], "vgg19") is not None
        assert isinstance(paths.read_json_object(data / "keras" / "keras.json"), dict)
        assert "engine process stopped" not in srv.log()
    finally:
        assert srv.stop() == 0
