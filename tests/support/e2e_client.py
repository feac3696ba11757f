"""Ask the running server for the result of a given input, as the plug-in would.

Runs with GIMP's Python and the nst_server modules install.py put beside the
plug-in: ``python3 e2e_client.py PLUGIN_DIR SPEC_JSON SOURCE_RAW OUT_RAW``.
"""

import json
import sys
from pathlib import Path

plugin_dir, spec_path, source_raw, out_raw = sys.argv[1:5]
sys.path.insert(0, plugin_dir)
from nst_server import client  # noqa: E402
from nst_server.client import protocol  # noqa: E402

spec = json.loads(Path(spec_path).read_text())
width, height = spec["source_size"]
desc = protocol.ImageDesc(width, height, "RGBA8")
conn = client.connect_running()
if conn is None:
    sys.exit("no server is running")
with conn:
    result = conn.stylize(
        Path(source_raw).read_bytes(), desc,
        [protocol.StyleImage(Path(spec["style"]).name, Path(spec["style"]).read_bytes())], spec["params"]
    )
Path(out_raw).write_bytes(result)
