"""install.py's pieces, one job each (standard library only: install.py runs with any python3 3.10+).

* ``gimps``: which GIMP 3 is installed, its version, and the profile folder it reads;
* ``server_python``: a Python for the server's environment for which TensorFlow has a release;
* ``quiet``: run the server's Python without library log lines in the installer's output.
"""
