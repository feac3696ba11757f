"""The plug-in's pure modules (request, wording, job_control, provenance, pixels, failures, frames), without GIMP."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from nst_server.client import estimate, events
from nst_server.client.params import SPECS, StyleParams, dialog_specs
from nst_server.client.protocol import ImageDesc
from tests.conftest import REPO

PLUGIN_DIR = REPO / "gimp_plugin" / "style_transfer"
sys.path.insert(0, str(PLUGIN_DIR))
import failures  # noqa: E402
import job_control  # noqa: E402
import pixels  # noqa: E402
import provenance  # noqa: E402
import request  # noqa: E402
import wording  # noqa: E402

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run

SPEED = {"precision": "bfloat16", "seconds_per_megapixel_step": {"float32": 2.0, "bfloat16": 1.0},
         "texture_seconds_per_megapixel_step": {"float32": 0.5, "bfloat16": 0.25}}
ARGS = {"strength": 70, "preset": "preview", "preserve-colors": True, "style-scale": 1.5, "seed": 7, "size": 0,
        "steps": 0, "second-style-weight": 30}


def test_the_pure_modules_need_neither_gimp_nor_pyzmq():
    code = ("import sys; sys.modules['zmq'] = None; sys.modules['gi'] = None; sys.path.insert(0, sys.argv[1]); "
            "sys.path.insert(0, sys.argv[2]); import failures, frames, job_control, pixels, provenance, request, wording; "
            "print('ok')")
    result = subprocess.run([sys.executable, "-I", "-c", code, str(PLUGIN_DIR), str(REPO)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_server_gets_the_dialogs_arguments_as_its_parameters():
    params = request.server_params(ARGS, request.extra_params('{"backbone": "vgg16"}'))
    assert params == StyleParams(preset="preview", strength=70, preserve_colors="luminance", style_scale=1.5, steps=0,
                                 seed=7, backbone="vgg16")  # the automatic detail (0) is chosen per layer
    assert request.server_params({**ARGS, "preserve-colors": False}, {}).preserve_colors == "off"
    assert request.server_params({**ARGS, "size": 300}, {}).size == 300
    # The expert hook's parameters are checked here, before any layer is touched, and the message says where.
    with pytest.raises(failures.PluginError, match=f"'strength' must be between 0 and 100.*{request.EXTRA_PARAMS_ENV}"):
        request.server_params(ARGS, {"strength": 500})
    with pytest.raises(failures.PluginError, match="unknown parameter.*colour"):
        request.server_params(ARGS, {"colour": "red"})
    assert request.extra_params(None) == {} and request.extra_params("") == {}
    for bad in ("{not json", "[1, 2]"):
        with pytest.raises(failures.PluginError, match=request.EXTRA_PARAMS_ENV):
            request.extra_params(bad)


def test_every_parameter_the_dialog_shows_is_remembered_with_the_result():
    assert {spec.argument for spec in dialog_specs()} | {"second-style-weight"} == set(request.REMEMBERED_ARGS)


def test_two_styles_share_the_blend():
    assert request.blend_weights(30, second=True) == [0.7, 0.3]
    assert request.blend_weights(30, second=False) == [1.0]
    assert request.blend_weights(0, second=True) == [1.0]  # a second style with no share is left out
    assert request.blended_name(["starry", "Photo style"]) == "starry + Photo style"


def test_detail_and_the_estimate_the_dialog_shows():
    size, seconds = request.detail_for(2400, 1800, ARGS, "auto", SPEED)
    assert size == estimate.auto_detail(SPEED, 1800, 2400, "preview") and seconds <= estimate.BUDGET_S["preview"]
    assert request.detail_for(2400, 1800, {**ARGS, "size": 300}, "auto", SPEED)[0] == 300
    # Without the server's speed: its default detail, at most the layer's own size, and no estimate.
    assert request.detail_for(2400, 1800, ARGS, "auto", None) == (SPECS["size"].default, None)
    assert request.detail_for(80, 60, ARGS, "auto", None) == (80, None)
    # The line under the detail says what the result will be: its resolution, the detail it is painted at, the time.
    # Balanced may spend three times what the layer takes at 512 px, whatever that is on this machine.
    balanced = {**ARGS, "preset": "balanced"}
    # Preview works at half the detail asked for and says so.
    text = wording.estimate_text([(2400, 1800), (80, 60)], ARGS, "auto", SPEED, waiting=False)
    assert re.fullmatch(r"Result: 2 layers at their own sizes painted at 1200/40 px detail, in about \d+ s "
                        r"\(automatic: the most that fits in 15 s\)", text), text
    assert wording.estimate_text([(80, 60)], {**ARGS, "preset": "balanced"}, "auto", SPEED, waiting=False).startswith(
        "Result: 80×60 px at full detail, in about ")
    explicit = wording.estimate_text([(2400, 1800)], {**balanced, "size": 300}, "auto", SPEED, waiting=False)
    assert re.fullmatch(r"Result: 2400×1800 px painted at 300 px detail, in about \d+ s", explicit), explicit
    slow = {"precision": "float32", "seconds_per_megapixel_step": {"float32": 20.0},
            "texture_seconds_per_megapixel_step": {"float32": 5.0}}
    budget = 3 * estimate.estimate_seconds(slow, 1800, 2400, 512, "balanced")
    assert budget > estimate.BUDGET_S["balanced"]
    assert wording.estimate_text([(2400, 1800)], balanced, "auto", slow, waiting=False).endswith(
        f"(automatic: the most that fits in {estimate.duration(budget)})")
    assert "asking" in wording.estimate_text([(80, 60)], ARGS, "auto", None, waiting=True)
    assert wording.estimate_text([(80, 60)], ARGS, "auto", None, waiting=False).endswith("automatic detail works at 512 px")
    assert wording.planned_text(512, 40.0) == "512 px, about 40 s" and wording.planned_text(512, None) == "512 px"
    assert wording.layer_lead(1, 3) == "Style transfer (2/3) " and wording.layer_lead(0, 1) == "Style transfer "


def test_what_a_jobs_events_say():
    lead = "Style transfer "
    assert wording.event_text(lead, events.Accepted("j", 1)) is None
    assert wording.event_text(lead, events.KeepAlive("j", 3)) == \
        ("Style transfer waiting: the server is busy, position 3 in the queue", None)
    assert wording.event_text(lead, events.Progress("j", 5, 20)) == ("Style transfer step 5 of 20", 0.25)
    assert wording.event_text(lead, events.Preview("j", ImageDesc(1, 1, "RGB8"), b"abc")) is None


def test_failures_become_sentences_that_say_what_to_do():
    from nst_server.client.errors import ClientError, ServerStopped

    assert "python3 install.py --weights FILE" in wording.user_message(ClientError("VGG16 weights are missing.",
                                                                                   "weights_missing"))
    said = "The VGG19 weights are not installed: run 'python3 install.py'."
    assert wording.user_message(ClientError(said, "weights_missing")) == said
    assert wording.user_message(ClientError("cannot read s.png", "bad_style_image")).startswith(
        "The style image cannot be read")
    assert "Wait until the other job is done" in wording.user_message(ClientError("full", "busy"))
    assert wording.user_message(ServerStopped("The server stopped answering.")) == "The server stopped answering."
    assert wording.user_message(ClientError("odd", "internal")) == "Style transfer failed: odd"


class FakeConnection:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def cancel(self, job: str) -> None:
        self.sent.append(("cancel", job))

    def finish(self, job: str) -> None:
        self.sent.append(("finish", job))


def test_stop_and_cancel_reach_the_job_once_it_is_known():
    conn, heard = FakeConnection(), []
    control = job_control.JobControl(on_job=heard.append)
    control.new_job(conn)
    control.press_stop()  # before the server has named the job: held back
    assert conn.sent == []
    control.seen("job-1")
    control.seen("job-1")
    assert conn.sent == [("finish", "job-1")] and heard == ["job-1"]
    control.press_stop()  # once is enough
    control.press_cancel()  # Cancel still wins over a Stop
    control.press_cancel()
    assert conn.sent == [("finish", "job-1"), ("cancel", "job-1")] and control.requested == "cancel"
    control.new_job(conn)  # the next layer's job: a new id, the request stands
    control.seen("job-2")
    assert conn.sent[-1] == ("cancel", "job-2")


def test_the_provenance_record():
    styles = [{"file": "/s/starry.jpg", "weight": 0.7}, {"layer": "Photo style", "layer_id": 4, "weight": 0.3}]
    record = provenance.provenance_record("Photo", styles, StyleParams(size=64), ARGS, (1, 2, 30, 40), stopped_early=True,
                                       estimate_seconds=12.5, speed=SPEED, elapsed=10.0)
    assert record["style"] == {"file": "/s/starry.jpg"} and record["styles"] == styles
    assert record["region"] == [1, 2, 30, 40] and record["stopped_early"] is True
    assert record["estimate"] == {"seconds": 12.5, "automatic": True, "speed": SPEED, "elapsed": 10.0}
    assert record["source"] == "Photo" and record["params"] == {**StyleParams().to_wire(), "size": 64} and record["args"] == ARGS


def test_nearest_neighbour_scaling():
    two_by_one = bytes([1, 2, 3, 4, 5, 6])  # two RGB pixels side by side
    assert pixels.scale_nearest(two_by_one, 2, 1, 3, 4, 2) == bytes([1, 2, 3] * 2 + [4, 5, 6] * 2) * 2
    assert pixels.scale_nearest(two_by_one, 2, 1, 3, 1, 1) == bytes([1, 2, 3])


def test_the_alpha_stays_in_the_plugin_and_goes_back_under_the_colours():
    rgba8 = bytes([10, 20, 30, 0, 40, 50, 60, 255])
    assert pixels.without_alpha(rgba8, 1) == bytes([10, 20, 30, 40, 50, 60])
    assert pixels.with_alpha(bytes([1, 2, 3, 4, 5, 6]), rgba8, 1) == bytes([1, 2, 3, 0, 4, 5, 6, 255])
    import struct

    rgba32 = struct.pack("<8f", 0.1, 0.2, 0.3, 0.0, 0.4, 0.5, 0.6, 1.0)  # float samples: four bytes each
    assert pixels.without_alpha(rgba32, 4) == struct.pack("<6f", 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    assert struct.unpack("<8f", pixels.with_alpha(struct.pack("<6f", 1, 2, 3, 4, 5, 6), rgba32, 4)) == \
        (1.0, 2.0, 3.0, 0.0, 4.0, 5.0, 6.0, 1.0)
    with pytest.raises(ValueError):
        pixels.with_alpha(bytes(5), rgba8, 1)


WATCHER = '''
calls = []
def seen(event, layer, **facts):
    calls.append((event, layer, facts))
def preview_shown(control):
    control.append("pressed")
'''


def test_the_plugin_loads_a_watcher_only_when_one_is_named(tmp_path):
    (tmp_path / "watcher.py").write_text(WATCHER)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import observer; controls = []; "
            "observer.seen('final', None, job='j1'); observer.preview_shown(controls); "
            "watcher = sys.modules.get('nst_plugin_observer'); "
            "print(watcher.calls if watcher else 'none', controls)")

    def run(env: dict[str, str]) -> str:
        result = subprocess.run([sys.executable, "-I", "-c", code, str(PLUGIN_DIR)], capture_output=True, text=True,
                                env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert run({}) == "none []"  # no watcher named: nothing is loaded, nothing is pressed
    assert run({"NST_PLUGIN_OBSERVER": str(tmp_path / "watcher.py")}) == "[('final', None, {'job': 'j1'})] ['pressed']"
    # The suite's own watcher is test code that the installed plug-in does not carry.
    from nst_server.installer.plugin_files import plugin_files
    assert "observer.py" in plugin_files() and "plugin_observer.py" not in plugin_files()
    assert not [name for name in plugin_files() if "hook" in name]
