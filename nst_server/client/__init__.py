"""The client: what runs inside GIMP's own Python (standard library, and pyzmq where it is there).

install.py copies this package whole next to the plug-in (with the package's
``__init__``); a test proves it imports neither numpy nor TensorFlow.  The
service imports ``protocol``, ``paths``, ``runtime`` and ``schedule`` from here
(the engine ``paths`` and ``schedule``): one definition of the wire protocol, of
where things live and of a job's work plan, for every side.

* ``protocol``: the wire protocol (frames, signing, limits, parameters), with
  ``pong_fields`` (a pong's optional ``features`` and ``speed``);
* ``connection``: one ``Connection`` to a server over a transport, its job's
  messages turned into typed ``events``; ``transport_zmq`` (pyzmq in this
  process) and ``transport_stdio`` (the bridge helper's pipes);
* ``connect``: which transport, and finding, starting or dialling the server;
* ``config``: the plug-in's server.json; ``runtime``: a running server's own
  runtime file; ``paths``: per-user folders;
* ``estimate`` and ``server_speed``: a job's time before it runs, from ``schedule``,
  the work plan (scales, tiles and steps) that the engine runs;
* ``errors``, ``png``, ``self_test`` (the doctor's round trip).
"""

from nst_server.client.connect import (
    connect_local,
    connect_remote,
    connect_running,
    dial,
    open_connection,
    start_server,
)
from nst_server.client.connection import Connection
from nst_server.client.errors import ClientError, ServerNotInstalled, ServerStartFailed, ServerStopped

__all__ = ["ClientError", "Connection", "ServerNotInstalled", "ServerStartFailed", "ServerStopped", "connect_local",
           "connect_remote", "connect_running", "dial", "open_connection", "start_server"]
