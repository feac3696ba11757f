"""Pre-trained VGG weights: find them, download them once, load them.

The style losses only mean something with trained features, so there is no
fallback to random weights: when no file can be found or fetched, this module
raises WeightsMissing with a message that says how to provide one.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from nst_server.client import paths
from nst_server.client.weight_files import KERAS_BASE_URL, KERAS_WEIGHTS, KerasWeights, md5sum


class WeightsMissing(Exception):
    """No usable weights file; the message tells the user what to do."""


def _spec(backbone: str) -> KerasWeights:
    try:
        return KERAS_WEIGHTS[backbone]
    except KeyError:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(KERAS_WEIGHTS)}") from None


def how_to_provide(backbone: str) -> str:
    spec = _spec(backbone)
    return (
        f"To use {backbone.upper()} offline, download {spec.url} on a machine with internet access, "
        f"then run 'python3 install.py --weights FILE', pass '--weights FILE' to the server, "
        f"or set {spec.env_var}=FILE. Both the downloaded Keras file ({spec.filename}) "
        f"and a Keras 3 '.weights.h5' file are accepted."
    )


def is_official(backbone: str, path: Path) -> bool:
    """True when the file is byte for byte the ImageNet file Keras publishes."""
    return md5sum(path) == _spec(backbone).md5


def installed_path(backbone: str) -> Path | None:
    spec = _spec(backbone)
    for name in (spec.filename, spec.keras3_filename):
        candidate = paths.weights_dir() / name
        if candidate.is_file():
            return candidate
    return None


def find_weights(backbone: str, explicit: str | os.PathLike | None = None) -> Path:
    """The weights file to use: explicit path, environment variable, installed file, Keras cache."""
    spec = _spec(backbone)
    for source, value in (("--weights", explicit), (spec.env_var, os.environ.get(spec.env_var))):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise WeightsMissing(f"The weights file given by {source} does not exist: {path}")
            return path
    if (path := installed_path(backbone)) is not None:
        return path
    keras_cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / spec.filename
    if keras_cache.is_file() and is_official(backbone, keras_cache):
        return keras_cache
    raise WeightsMissing(f"The {backbone.upper()} ImageNet weights are not installed. " + how_to_provide(backbone))


def _base_url() -> str:
    return os.environ.get("NST_WEIGHTS_BASE_URL", KERAS_BASE_URL).rstrip("/")


def name_lookup_failed(exc: BaseException) -> bool:
    """True when ``exc`` (a URLError or what it wraps) is a failed DNS lookup."""
    import socket

    reason = getattr(exc, "reason", exc)
    return isinstance(reason, socket.gaierror)


def download_file(url: str, dest: Path, md5: str, progress: bool = True, attempts: int = 4,
                  timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``: progress on stderr, resumed after a broken connection, md5 checked.

    The bytes go to ``dest`` + ``.part`` first; a later call (or the next attempt)
    asks the server only for the rest (HTTP Range).  ``dest`` appears only once
    the whole file has the expected hash.
    """
    import urllib.error
    import urllib.parse
    import urllib.request

    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for _ in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if have and response.status != 206:
                    have = 0  # the server ignored the range: start again
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                with open(part, "ab" if have else "wb") as out, tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=dest.name, disable=not progress, file=sys.stderr,
                ) as bar:
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        bar.update(len(chunk))
                if total is not None and part.stat().st_size < total:
                    raise ConnectionError(f"connection closed after {part.stat().st_size} of {total} bytes")
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
                break
            raise WeightsMissing(f"Could not download {url} (HTTP {exc.code} {exc.reason}).") from None
        except (OSError, ConnectionError) as exc:  # URLError, timeouts, resets: resume on the next attempt
            if name_lookup_failed(exc):  # no network, or no DNS: trying again will not help
                host = urllib.parse.urlsplit(url).hostname
                raise WeightsMissing(f"Could not download {url}: the name {host} cannot be looked up "
                                     "(this machine seems to be offline, or needs a proxy).") from None
            last_error = exc
            print(f"download interrupted ({exc}); trying again", file=sys.stderr)
            time.sleep(0.5)
    else:
        raise WeightsMissing(f"Could not download {url} ({last_error}).")
    got = md5sum(part)
    if got != md5:
        part.unlink()
        raise WeightsMissing(f"The download of {url} is damaged (md5 {got}, expected {md5}); it was removed, try again.")
    os.replace(part, dest)
    return dest


def download_weights(backbone: str, progress: bool = True) -> Path:
    """Fetch the official file once into our weights folder, resuming and checking Keras's md5."""
    spec = _spec(backbone)
    if os.environ.get("NST_OFFLINE") == "1":
        raise WeightsMissing(f"Not downloading the {backbone.upper()} weights: NST_OFFLINE=1. " + how_to_provide(backbone))
    url = f"{_base_url()}/{spec.backbone}/{spec.filename}"
    try:
        return download_file(url, paths.weights_dir() / spec.filename, spec.md5, progress)
    except WeightsMissing as exc:
        raise WeightsMissing(f"Could not download the {backbone.upper()} weights: {exc} " + how_to_provide(backbone)) from None


def install_weights_file(backbone: str, source: str | os.PathLike) -> Path:
    """Check that a local file loads into the backbone, then copy it into our weights folder."""
    spec = _spec(backbone)
    source = Path(source).expanduser()
    if not source.is_file():
        raise WeightsMissing(f"The weights file does not exist: {source}")
    load_backbone(backbone, source)  # raises WeightsMissing when the file does not fit
    name = spec.keras3_filename if source.name.endswith(".weights.h5") else spec.filename
    dest = paths.weights_dir() / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists() or not os.path.samefile(source, dest):
        tmp = dest.with_suffix(".part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    # Only one layout per backbone, so find_weights never picks a stale one.
    other = paths.weights_dir() / (spec.filename if name == spec.keras3_filename else spec.keras3_filename)
    other.unlink(missing_ok=True)
    return dest


POOLINGS = ("max", "average")


def build_backbone(backbone: str, pooling: str = "max"):
    """The convolutional part of VGG16/19, untrained (weights are loaded separately).

    ``pooling="average"`` swaps each max pooling for an average pooling, as Gatys et al. did for
    image synthesis: the gradient then flows to every pixel of a window, not only to its maximum,
    so a tiny change of the image cannot switch which pixel the optimization moves.
    """
    import keras

    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    factory = {"vgg19": keras.applications.VGG19, "vgg16": keras.applications.VGG16}[backbone]
    model = factory(include_top=False, weights=None)
    if pooling == "max":
        return model

    def average_pooling(layer):
        if isinstance(layer, keras.layers.MaxPooling2D):
            return keras.layers.AveragePooling2D(layer.pool_size, layer.strides, layer.padding, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=average_pooling)


def load_backbone(backbone: str, path: str | os.PathLike, pooling: str = "max"):
    """Build the backbone and load the weights file; WeightsMissing if it does not fit."""
    path = Path(path)
    model = build_backbone(backbone, pooling)
    try:
        # Keras reads both layouts: the legacy HDF5 file it downloads and its own '.weights.h5'.
        model.load_weights(str(path))
    except Exception as exc:
        raise WeightsMissing(
            f"{path} is not a usable {backbone.upper()} weights file ({type(exc).__name__}: {exc}). "
            + how_to_provide(backbone)
        ) from None
    model.trainable = False
    return model
