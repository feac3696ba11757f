"""GIMP Style Transfer: the client (in GIMP), the service (sockets) and the engine (TensorFlow).

* ``client/``: runs in GIMP's own Python (standard library, and pyzmq where it
  is there); install.py copies it next to the plug-in.  It holds the one
  definition of the wire protocol, which the service imports from there.
* ``service/``: the socket process, the bridge helper and remote mode: pyzmq,
  no TensorFlow.
* ``engine/``: TensorFlow, in a worker process of its own (``engine/jobs.py`` is
  the worker's side of the pipe).
* ``pipe/``: what the service and the engine both take (the messages on their pipe,
  the image checks and errors); it takes only the client.
* ``installer/``: what install.py does, with the system's Python.
* ``cli.py``: ``python -m nst_server``; ``doctor.py``: ``python -m nst_server.doctor``,
  what install.py's doctor asks the server's Python.
"""

__version__ = "0.1.0"
