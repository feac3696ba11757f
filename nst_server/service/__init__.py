"""The service: the processes around the engine that hold sockets, never TensorFlow (nor numpy).

* ``server``: the socket process (``python -m nst_server serve``): a ZeroMQ
  ROUTER that queues jobs, streams their progress, and survives what clients send;
  ``endpoint``, its lock, its socket and sends that never wait for a client;
* ``validation``: a request checked at the boundary, before the engine sees it (style
  files read to their headers with nst_server/pipe/image_checks.py);
* ``worker``: the socket process's handle on the engine's own process, over the pipe
  whose messages are nst_server/pipe/messages.py (the worker's side is
  nst_server/engine/jobs.py, the one module through which the service reaches the engine);
* ``remote``: keys and allow-list for a server other machines use;
* ``bridge``: the stdio bridge helper, for a GIMP whose Python has no pyzmq;
* ``logs`` and ``memory``: a log that outside traffic cannot turn against its
  owner, and freed memory given back.
"""
