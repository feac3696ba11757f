"""The command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from PIL import Image

from tests.conftest import REPO, shared_image


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nst_server", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_stylize_works_at_the_detail_asked_and_writes_the_photo_s_own_size(tmp_path, trained_vgg16_weights):
    out = tmp_path / "out.png"
    result = run_cli("stylize", str(shared_image("chelsea.png")), str(shared_image("starry_night.jpg")), "-o", str(out),
                     "--size", "48", "--steps", "3", "--backbone", "vgg16", "--weights", str(trained_vgg16_weights))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as img, Image.open(shared_image("chelsea.png")) as photo:
        assert img.size == photo.size
    assert "3/3" in result.stderr  # the progress bar reached the end
    assert "automatic detail" not in result.stdout


def test_without_size_the_detail_is_automatic_as_in_the_dialog(tmp_path, trained_vgg16_weights):
    """The plug-in's defaults: the most detail the preset finishes within its time on this machine (its measured
    speed, seeded here so that the test does not spend minutes measuring), at the photo's own size."""
    from nst_server.client import estimate
    from tests.support.servers import measured_data_dir

    out = tmp_path / "out.png"
    data = measured_data_dir(tmp_path, seconds=0.05, backbones=("vgg16",))
    result = run_cli("stylize", str(shared_image("chelsea.png")), str(shared_image("starry_night.jpg")), "-o", str(out),
                     "--steps", "2", "--backbone", "vgg16", "--weights", str(trained_vgg16_weights),
                     env={"NST_DATA_DIR": str(data)})
    assert result.returncode == 0, result.stderr
    speed = {"precision": "float32", "seconds_per_megapixel_step": {"float32": 0.05, "bfloat16": 0.1},
             "texture_seconds_per_megapixel_step": {"float32": 0.0125, "bfloat16": 0.025}}
    with Image.open(out) as img:
        assert img.size == (451, 300)
        expected = estimate.auto_detail(speed, img.height, img.width, "balanced", 2)
    assert f"automatic detail: {expected} px" in result.stdout


def test_without_weights_the_user_is_told_how_to_provide_them(isolated_dirs):
    result = run_cli("stylize", str(shared_image("chelsea.png")), str(shared_image("starry_night.jpg")), "-o",
                     str(isolated_dirs / "o.png"), "--steps", "1", env={"NST_OFFLINE": "1"})
    assert result.returncode == 4
    assert "install.py --weights FILE" in result.stderr and "Traceback" not in result.stderr


def test_bad_parameters_are_named(tmp_path):
    result = run_cli("stylize", str(shared_image("chelsea.png")), str(shared_image("starry_night.jpg")), "-o",
                     str(tmp_path / "o.png"), "--steps", "-1")
    assert result.returncode == 2 and "'steps' must be between 0 and" in result.stderr


def test_unreadable_style_file_is_named(tmp_path, vgg19_weights):
    bad = tmp_path / "style.jpg"
    bad.write_bytes(b"not an image")
    result = run_cli("stylize", str(shared_image("chelsea.png")), str(bad), "-o", str(tmp_path / "o.png"),
                     "--weights", str(vgg19_weights))
    assert result.returncode == 2 and "cannot read" in result.stderr and "Traceback" not in result.stderr
