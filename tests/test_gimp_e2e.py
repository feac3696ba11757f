"""End to end in a real GIMP 3 (3.0 and 3.2): install.py, the plug-in through the PDB, the server it starts.

The plug-in is installed with install.py into an isolated GIMP profile, GIMP
builds an image whose photo layer has non-zero offsets, the procedure runs
non-interactively, and the test checks the image GIMP ends up with.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_server.client import runtime
from tests.conftest import REPO, shared_image
from tests.support.gimp import GIMP_VERSIONS, GimpEnvironment, cache_dir

pytestmark = pytest.mark.gimp

SUPPORT = Path(__file__).parent / "support"
OBSERVER_FILE = "plugin_observer.py"  # the suite's watcher, loaded by the plug-in through NST_PLUGIN_OBSERVER
PARAMS = {"size": 64, "steps": 3, "strength": 70, "preset": "preview"}
CONTENT_SIZE = (96, 64)
OFFSETS = (37, 21)


@pytest.fixture(scope="module", params=GIMP_VERSIONS, ids=lambda version: f"gimp-{version}")
def gimp(request):
    """Each real-GIMP test runs once with every GIMP version (each in its own chroot when the host has none)."""
    env = GimpEnvironment.provide(request.param)
    print(f"using {env}")
    with env.ready():
        yield env


@pytest.fixture(scope="module")
def workspace(gimp, tmp_path_factory, vgg19_weights):
    """Test inputs and the repository where GIMP's side can read them; returns their inner paths."""
    return make_workspace(gimp, tmp_path_factory, vgg19_weights, "e2e")


def make_workspace(gimp, tmp_path_factory, vgg19_weights, name: str) -> dict:
    """A workspace of its own for each test module (``name``): modules may run at the same time."""
    suffix = "" if name == "e2e" else f"-{name}"
    if gimp.root is None:
        ws, src, data = str(tmp_path_factory.mktemp(f"{name}-{gimp.version}")), str(REPO), \
            str(cache_dir() / "host-server-data")
    else:
        ws, src, data = f"/opt/nst-e2e{suffix}", f"/opt/nst-src{suffix}", "/var/cache/nst-e2e-server-data"
        shutil.rmtree(gimp.outside(src), ignore_errors=True)
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.split()
        for name in files:
            if (REPO / name).is_file():
                target = gimp.outside(src) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, target)
    outside = gimp.outside(ws)
    shutil.rmtree(outside, ignore_errors=True)
    outside.mkdir(parents=True)
    shutil.copyfile(vgg19_weights, outside / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
    with Image.open(shared_image("chelsea.png")) as img:
        img.convert("RGB").resize(CONTENT_SIZE).save(outside / "content.png")
    with Image.open(shared_image("starry_night.jpg")) as img:
        img = img.convert("RGB")
        img.thumbnail((128, 128))
        img.save(outside / "starry_night.jpg")
    for script in ("gimp_batch_stylize.py", "e2e_client.py", OBSERVER_FILE):
        shutil.copyfile(SUPPORT / script, outside / script)
    return {"ws": ws, "src": src, "data": data, "console": gimp.console, "gui": gimp.gui}


def nst_env(workspace, case: str) -> dict[str, str]:
    ws = workspace["ws"]
    return {
        "GIMP3_DIRECTORY": f"{ws}/profile",
        "NST_DATA_DIR": workspace["data"],
        "NST_STATE_DIR": f"{ws}/state",
        "NST_RUNTIME_DIR": f"{ws}/{case}/run",
        "NST_E2E_DIR": f"{ws}/{case}",
        "NST_PLUGIN_OBSERVER": f"{ws}/{OBSERVER_FILE}",
    }


@pytest.fixture(scope="module")
def installed(gimp, workspace):
    ws = workspace["ws"]
    result = gimp.run(
        ["python3", f"{workspace['src']}/install.py", "--weights", f"{ws}/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"],
        nst_env(workspace, "install"),
        timeout=2400,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    plugin = gimp.outside(f"{ws}/profile/plug-ins/style_transfer/style_transfer.py")
    assert plugin.is_file() and plugin.stat().st_mode & stat.S_IXUSR
    return gimp.outside(f"{ws}/profile/plug-ins/style_transfer")


def run_case(gimp, workspace, case: str) -> dict:
    ws = workspace["ws"]
    spec = {
        "canvas": [200, 150],
        "offsets": list(OFFSETS),
        "content": f"{ws}/content.png",
        "style": f"{ws}/starry_night.jpg",
        "params": PARAMS,
        "source_size": list(CONTENT_SIZE),
        "out": f"{ws}/{case}/out",
    }
    case_dir = gimp.outside(f"{ws}/{case}")
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "spec.json").write_text(json.dumps(spec))
    started = time.monotonic()
    result = gimp.run(
        [gimp.console, "-nis", "--batch-interpreter=python-fu-eval",
         "-b", f"exec(open('{ws}/gimp_batch_stylize.py').read())", "--quit"],
        nst_env(workspace, case),
        timeout=600,
    )
    print(f"GIMP ran {time.monotonic() - started:.1f} s; exit {result.returncode}\n{result.stdout[-3000:]}")
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((case_dir / "out" / "report.json").read_text())
    report["dir"] = case_dir / "out"
    return report


def raw(report: dict, name: str, size) -> np.ndarray:
    return np.frombuffer((report["dir"] / name).read_bytes(), np.uint8).reshape(size[1], size[0], 4)


def stop_server(run_dir: Path) -> None:
    info = runtime.read_runtime_info(run_dir)
    if info is None:
        return
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(info.pid, signal.SIGKILL)


def test_apply_style_adds_the_stylized_layer_above_the_source(gimp, workspace, installed):
    run_dir = gimp.outside(f"{workspace['ws']}/success/run")
    try:
        report = run_case(gimp, workspace, "success")
        print(json.dumps({k: report[k] for k in ("status", "message", "layers_after")}, indent=1))
        assert report["status"] == "success", report["message"]
        names = [layer["name"] for layer in report["layers_after"]]
        assert names == ["Top", "Photo (starry_night)", "Photo", "Background"]
        new, source = report["layers_after"][1], report["layers_after"][2]
        assert new["size"] == source["size"] == list(CONTENT_SIZE)
        assert new["offsets"] == source["offsets"] == list(OFFSETS)

        source_before = raw(report, "source_before.raw", CONTENT_SIZE)
        np.testing.assert_array_equal(raw(report, "source_after.raw", CONTENT_SIZE), source_before)
        stylized = raw(report, new["raw"], CONTENT_SIZE)
        assert np.abs(stylized[..., :3].astype(int) - source_before[..., :3]).mean() > 2

        # The same input sent to the same server gives exactly the layer's pixels.
        ws = workspace["ws"]
        check = gimp.run(
            ["python3", f"{ws}/e2e_client.py", f"{ws}/profile/plug-ins/style_transfer", f"{ws}/success/spec.json",
             f"{ws}/success/out/source_before.raw", f"{ws}/success/out/server_result.raw"],
            nst_env(workspace, "success"),
            timeout=300,
        )
        assert check.returncode == 0, check.stderr[-3000:]
        np.testing.assert_array_equal(raw(report, "server_result.raw", CONTENT_SIZE), stylized)
    finally:
        stop_server(run_dir)


def test_no_server_means_a_clear_error_and_an_unchanged_image(gimp, workspace, installed):
    config = installed / "server.json"
    saved = config.read_text()
    config.write_text(json.dumps({"command": ["/nonexistent/venv/bin/python", "-m", "nst_server", "serve"]}))
    try:
        report = run_case(gimp, workspace, "no-server")
    finally:
        config.write_text(saved)
    print(report["message"])
    assert report["status"] == "execution-error"
    assert "Could not start the style transfer server" in report["message"]
    assert "install.py" in report["message"]
    assert [layer["name"] for layer in report["layers_after"]] == [layer["name"] for layer in report["layers_before"]]
    for before, after in zip(report["layers_before"], report["layers_after"], strict=True):
        assert before["offsets"] == after["offsets"] and before["size"] == after["size"]
