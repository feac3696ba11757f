"""Keep the server busy: submit one long job as another client would, until it ends or is killed.

Runs with GIMP's Python and the nst_server modules beside the plug-in:
``python3 busy_client.py PLUGIN_DIR STYLE_FILE STEPS``; prints "accepted" once the job runs.
"""

import sys
from pathlib import Path

plugin_dir, style, steps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, plugin_dir)
from nst_server import client  # noqa: E402
from nst_server.client import config, events, protocol  # noqa: E402

desc = protocol.ImageDesc(64, 48, "RGB8")
conn = client.open_connection(config.read(Path(plugin_dir)))  # the running server, or one started as the plug-in would
said = False


def on_event(event):
    global said
    if not said and isinstance(event, events.Progress):
        print("accepted", flush=True)
        said = True


with conn:
    try:
        conn.stylize(bytes(64 * 48 * 3), desc, [protocol.StyleImage(style.name, style.read_bytes())],
                     {"size": 64, "steps": steps, "preset": "preview"}, on_event=on_event)
    except client.ClientError as exc:
        print(exc.code, flush=True)
