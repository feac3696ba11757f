"""The engine: TensorFlow, in the worker process that service/worker.py spawns.

* ``jobs``: the worker's side of the pipe, the one module through which the
  service reaches the engine: a job's bytes to arrays and back, progress,
  cancel and finish;
* ``engine``: ``StyleTransferEngine``, which owns the feature networks (built once
  per backbone and precision, kept warm) and runs a method;
* ``methods``: the seed and multiscale methods, with their pieces: ``steps``
  (the compiled optimization steps), ``features`` (the feature extractor),
  ``losses``, ``targets`` (style statistics, cached), ``colour``, ``tiles`` and
  ``progress``; the work plan they follow is nst_server/client/schedule.py;
* ``images``: style files and pixel buffers to arrays and back (the socket
  process checks style files with pipe/image_checks.py);
* ``speed``: the speed measured once per machine; ``weights``: the VGG
  weights (find, download, verify, load).

The weights files' names and md5 are nst_server/client/weight_files.py, which
install.py checks an installed file with: the installer never imports the engine.
"""
