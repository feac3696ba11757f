"""What the socket process and the engine's worker process both take, and neither owns.

* ``messages``: the typed messages on the pipe between them (standard library only);
* ``image_checks``: a style file read to its header (Pillow alone), the image errors both
  processes raise, and ``refusal``, the protocol's error for each.

It imports only nst_server.client, so that the engine never imports the service (tests/test_imports.py).
"""
