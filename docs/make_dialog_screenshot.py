"""Render the plug-in's dialog and progress window to docs/images/ with GUI GIMP 3 on Xvfb.

``python docs/make_dialog_screenshot.py`` runs tests/test_gimp_dialog.py with GIMP 3.2, what
most artists run (the host's, or the cached Debian testing chroot, with xvfb, xdotool and xwd)
with NST_WRITE_DOCS_IMAGES=1:
the test first opens Filters > Style Transfer on a 2400x1800 photo in a profile where the
plug-in never ran (every parameter at its default, the estimate line shown) and takes a
picture of the dialog, then runs it on a result layer and takes a picture of the progress window.
Writes docs/images/dialog.png and docs/images/progress.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    env = {**os.environ, "NST_WRITE_DOCS_IMAGES": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "tests/test_gimp_dialog.py",
               "-k", "(new_users_dialog or dialog_offers) and gimp-3.2"]
    code = subprocess.run(command, cwd=REPO, env=env).returncode
    if code == 0:
        print("wrote", REPO / "docs" / "images" / "dialog.png", "and", REPO / "docs" / "images" / "progress.png")
    return code


if __name__ == "__main__":
    sys.exit(main())
