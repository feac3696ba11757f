"""The doctor's round trip: a tiny stylization, exactly as the plug-in in a given folder would send it.

``python -m nst_server.client.self_test PLUGIN_DIR``, run by install.py's doctor
with GIMP's own Python and the client modules beside the plug-in (or with the
server's Python and ``NST_PLUGIN_NO_PYZMQ=1``, as a GIMP without pyzmq would).

Standard library only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from nst_server.client import config as plugin_config
from nst_server.client import protocol
from nst_server.client.connect import add_vendor_path, open_connection, uses_bridge
from nst_server.client.errors import ClientError
from nst_server.client.png import encode_png


def self_test(plugin_dir: Path, timeout: float = 300.0) -> str:
    """A one-line summary of a tiny stylization through the server; raises ClientError (or another
    exception) when it fails."""
    config = plugin_config.read(plugin_dir)
    if config is None:
        raise ClientError(f"{plugin_config.config_file(plugin_dir)} is missing; run 'python3 install.py'.", "not_installed")
    add_vendor_path(config, plugin_dir)
    width, height = 32, 24
    desc = protocol.ImageDesc(width, height, "RGB8")  # the plug-in keeps the alpha and sends the colours
    pixels = bytes(c for y in range(height) for x in range(width) for c in (8 * x % 256, 10 * y % 256, 128))
    stripes = bytes(c for y in range(32) for x in range(32) for c in ((255, 200, 0) if (x + y) // 4 % 2 else (0, 40, 160)))
    style = protocol.StyleImage("stripes.png", encode_png(32, 32, stripes, 3))
    started = time.monotonic()
    via = "the stdio bridge" if uses_bridge(config) else "pyzmq"
    with open_connection(config, start_timeout=timeout) as conn:
        result = conn.stylize(pixels, desc, [style], {"size": 32, "steps": 2, "seed": 1}, silence_timeout=60.0,
                              preview_long_side=max(width, height))
    changed = sum(abs(a - b) for a, b in zip(result, pixels, strict=True)) / len(pixels)
    if changed < 0.5:
        raise ClientError("the server sent the test image back unchanged", "self_test")
    return f"a {width}x{height} test image went to the server through {via} and came back stylized " \
           f"(mean change {changed:.1f}/255, {time.monotonic() - started:.1f} s)"


def main() -> int:
    try:
        print(self_test(Path(sys.argv[1])))
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
