"""A client that starts an endless job and waits: the test kills or freezes it.

``python -m tests.support.slow_client RUNTIME_DIR``; prints "running" once the job makes progress,
and "error CODE: MESSAGE" if the job ends with an error (a frozen client that is resumed learns
that its job was dropped).
"""

import sys
from pathlib import Path

from nst_server import client
from nst_server.client import events
from tests.support.servers import ENDLESS, layer, style_file

conn = client.connect_running(Path(sys.argv[1]))
if conn is None:
    sys.exit("no server")
desc, pixels = layer(64, 64)


def on_event(event):
    if isinstance(event, events.Progress):
        print("running", flush=True)


try:
    conn.stylize(pixels, desc, [style_file()], ENDLESS, on_event=on_event, silence_timeout=3600)
except client.ClientError as exc:
    print(f"error {exc.code}: {exc}", flush=True)
