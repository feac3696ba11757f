"""Frames mode's pure part (gimp_plugin/style_transfer/frames.py, issue 20): frame-timing names as GIMP's
Playback and GIF/WebP exporters read them, and the first reason selected layers are no animation; and the
dialog's line and progress text of an animation (wording.py), without GIMP."""

from __future__ import annotations

import sys

import pytest

from nst_server.client import estimate
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "gimp_plugin" / "style_transfer"))
import frames  # noqa: E402
import request  # noqa: E402
import wording  # noqa: E402
from frames import FrameInfo  # noqa: E402

pytestmark = pytest.mark.quick

SPEED = {"precision": "float32", "seconds_per_megapixel_step": {"float32": 2.0},
         "texture_seconds_per_megapixel_step": {"float32": 0.5}}
ARGS = {"preset": "balanced", "size": 0, "steps": 0}


def test_the_delay_is_playbacks_ms_tag_anywhere_in_the_name():
    assert frames.frame_delay("Frame 2 (100ms) (replace)") == 100
    assert frames.frame_delay("Frame 3 ( 40 MS )") == 40  # spaces and any case, as Playback's is_ms_tag
    assert frames.frame_delay("Walk (combine) (250ms)") == 250
    assert frames.frame_delay("Background") is None
    assert frames.frame_delay("Frame (2)") is None and frames.frame_delay("Frame 2 (ms)") is None


def test_a_stack_looks_like_frames_when_every_layer_above_the_bottom_one_is_tagged():
    assert frames.looks_like_frames(["Frame 1 (100ms)", "Frame 2 (100ms) (replace)", "Frame 3 (combine)"])
    assert frames.looks_like_frames(["Background", "Frame 2 (100ms)"])  # a GIF loader's plain bottom layer
    assert not frames.looks_like_frames(["Frame 1 (100ms)"])  # one layer is no animation
    assert not frames.looks_like_frames(["Frame 1 (100ms)", "Frame 2", "Frame 3 (100ms)"])  # the word is not enough
    assert not frames.looks_like_frames(["Background", "Sky"])
    assert not frames.looks_like_frames(["Frame 1 (100ms)", "Frame 2 (Replace)"])  # the readers' tags are lower case


def frame(name: str, **changes) -> FrameInfo:
    return FrameInfo(**{"name": name, "width": 320, "height": 240, **changes})


def test_good_frames_have_no_problem():
    assert frames.frame_problems([frame("Frame 1 (100ms)"), frame("Frame 2 (100ms)")]) is None


def test_each_problem_is_named_with_its_layer_and_what_to_do():
    group = frames.frame_problems([frame("Frame 1"), frame("Group 1", is_group=True)])
    assert group.startswith("'Group 1' is a layer group.") and "turn off Animation frames" in group
    inside = frames.frame_problems([frame("Frame 1"), frame("Frame 3 (100ms)", parent_name="Walk")])
    assert inside.startswith("'Frame 3 (100ms)' is inside the group 'Walk'.") and "move the frames out" in inside
    hidden = frames.frame_problems([frame("Frame 1"), frame("Frame 2 (100ms)", visible=False)])
    assert hidden.startswith("'Frame 2 (100ms)' is hidden.")
    sizes = frames.frame_problems([frame("Frame 1"), frame("Frame 2"), frame("Frame 4", width=96, height=80)])
    assert sizes.startswith("The frames differ in size: 'Frame 1' is 320×240 px, 'Frame 4' 96×80 px.")
    assert "Filters > Animation > Unoptimize" in sizes and "Layer > Layer to Image Size" in sizes


def test_a_frame_drawn_over_the_frames_below_it_with_transparent_pixels_is_refused():
    """An optimized GIF's partial frame: "(combine)", or no disposal tag (Playback's default), and alpha < 255."""
    partial = frames.frame_problems([frame("Frame 1 (100ms) (combine)"), frame("Frame 2 (100ms) (combine)"),
                                     frame("Frame 3 (100ms) (combine)", partial=True)])
    assert partial == ("'Frame 3 (100ms) (combine)' is drawn over the frames below it (it has transparent pixels): "
                       "frames mode needs whole frames: for an optimized GIF use Filters > Animation > Unoptimize, "
                       "then try again; if the transparency is the frame's own, end its name with (replace).")
    untagged = frames.frame_problems([frame("Background"), frame("Frame 2 (100ms)", partial=True)])
    assert untagged.startswith("'Frame 2 (100ms)' is drawn over the frames below it")
    # A (replace) frame's transparency is its own; the bottom frame is drawn over nothing.
    assert frames.frame_problems([frame("Frame 1 (100ms) (combine)", partial=True),
                                  frame("Frame 2 (100ms) (replace)", partial=True)]) is None


def test_a_frame_combines_unless_its_first_disposal_tag_is_replace():
    assert frames.combines("Frame 2 (100ms) (combine)") and frames.combines("Frame 2 (100ms)")
    assert not frames.combines("Frame 2 (100ms) (replace)")
    assert not frames.combines("Frame 2 (replace) (combine)")  # the exporters read the first tag
    assert frames.combines("Frame 2 (Replace)")  # not a tag: the readers' tags are lower case


def test_the_first_problem_in_the_documented_order_is_reported():
    """Group, then inside a group, then hidden, then sizes, then a partial frame: whatever the layers' order."""
    layers = [frame("Small", width=10), frame("Hidden", visible=False), frame("In", parent_name="G"),
              frame("G", is_group=True)]
    assert frames.frame_problems(layers).startswith("'G' is a layer group")
    assert frames.frame_problems(layers[:3]).startswith("'In' is inside")
    assert frames.frame_problems(layers[:2]).startswith("'Hidden' is hidden")
    partial = [frame("Frame 1"), frame("Partial", partial=True), frame("Small", width=10)]
    assert frames.frame_problems(partial).startswith("The frames differ in size")
    assert frames.frame_problems(partial[:2]).startswith("'Partial' is drawn over")


def test_the_dialog_line_covers_the_whole_animation():
    text = wording.estimate_text([(320, 240)] * 5, ARGS, "auto", SPEED, waiting=False, frames=True)
    print(text)
    detail, first = request.detail_for(320, 240, ARGS, "auto", SPEED)
    followup = estimate.followup_seconds(SPEED, 240, 320, detail, "balanced", 0, "auto")
    total = estimate.estimate_frames_seconds(SPEED, 240, 320, detail, "balanced", 0, "auto", 5)
    assert text == (f"Result: 5 frames of 320×240 px at full detail, in {estimate.describe_seconds(total)} "
                    f"(the first {estimate.describe_seconds(first)}, then {estimate.describe_seconds(followup)} each)")
    assert wording.estimate_text([(320, 240)] * 5, ARGS, "auto", None, waiting=True, frames=True) == \
        "Result: 5 frames of 320×240 px; asking the style transfer server how fast it is…"


def test_a_later_frame_keeps_the_first_frames_detail_on_the_shorter_plan():
    assert request.frame_detail(320, 240, 288, ARGS, "auto", SPEED, followup=True) == \
        (288, estimate.followup_seconds(SPEED, 240, 320, 288, "balanced", 0, "auto"))
    assert request.frame_detail(320, 240, 288, ARGS, "auto", SPEED, followup=False) == \
        (288, estimate.estimate_seconds(SPEED, 240, 320, 288, "balanced", 0, "auto"))
    assert request.frame_detail(320, 240, 288, ARGS, "auto", None, followup=True) == (288, None)


def test_the_progress_text_says_which_frame_and_when_frames_are_stylized_independently():
    assert wording.frame_lead(1, 5, chained=True) == "Style transfer (frame 2/5) "
    alone = wording.frame_lead(0, 5, chained=False)
    assert alone.startswith("Style transfer (frame 1/5, stylized independently") and "cannot keep" in alone
