"""What ``python3 install.py`` does, one job a module.

Runs with whatever ``python3`` the user has (3.10 or newer), before the
server's own environment exists: standard library only, and nothing here may
import the rest of ``nst_server`` beyond its standard-library client modules.

* ``main``: the command line and the order of the steps;
* ``gimps``: which GIMP 3 is installed, its version, and the profile folder it reads;
* ``server_python``: a Python for the server's environment for which TensorFlow has a release;
* ``server_env``: that environment (made, and pip run, only when something changed) and the weights;
* ``gimp_python``: GIMP's own Python and its pyzmq (the system's, or a copy built for it);
* ``plugin_files``: the plug-in's folder in a profile, and its ``server.json``;
* ``doctor``: ``--check``, a list of checks, one line each;
* ``uninstall``: ``--uninstall``;
* ``quiet``: the installer's own output, and the server's Python run without library log lines.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout install.py runs from
