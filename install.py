#!/usr/bin/env python3
"""Install GIMP Style Transfer for this user: one command, safe to run again.

    python3 install.py                 # plug-in, server environment, VGG19 weights
    python3 install.py --gpu           # the same, with TensorFlow's CUDA libraries (Linux, NVIDIA)
    python3 install.py --weights FILE  # offline: use a weights file you downloaded
    python3 install.py --check         # the doctor: is everything in place and working?
    python3 install.py --uninstall     # remove everything this script put in place

It runs with the system's python3 (standard library only), before the server's
own environment exists; the steps are in nst_server/installer/.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nst_server.installer.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
