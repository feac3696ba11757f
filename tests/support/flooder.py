"""A signed client that sends requests and never reads a single answer (issue 18, item 1).

``python -m tests.support.flooder RUNTIME_DIR COUNT exit|stay|endless``: sends COUNT ``status`` and
``ping`` requests, taking turns, and prints "sent"; then exits (``exit``), stays connected without
reading (``stay``), or goes on sending COUNT more every second, for ever (``endless``).  Its receive
queue is as small as ZeroMQ allows, so that the server's queue for it fills soon.
"""

import sys
import time
from pathlib import Path

import zmq

from nst_server.client import protocol, runtime

runtime_dir, count, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
info = runtime.read_runtime_info(runtime_dir)
if info is None:
    sys.exit("no server")
context = zmq.Context()
sock = context.socket(zmq.DEALER)
sock.setsockopt(zmq.RCVHWM, 1)
sock.setsockopt(zmq.RCVBUF, 4096)
sock.setsockopt(zmq.LINGER, 30_000)  # on exit, what was sent still reaches the server
sock.connect(info.endpoint)


def burst(n: int) -> None:
    for i in range(n):
        if i % 2:
            header = protocol.new_header(protocol.STATUS, job="not-a-job")
        else:
            header = protocol.new_header(protocol.PING)
        sock.send_multipart(protocol.encode(info.key, header))


burst(count)
print("sent", flush=True)
if mode == "stay":
    time.sleep(3600)
elif mode == "endless":
    while True:
        time.sleep(1)
        burst(count)
sock.close()
context.term()
