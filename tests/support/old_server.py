"""The real server as one from before frames mode: its pong lists no ``features`` (issue 20).

``python old_server.py [serve options]`` with the server's Python: a plug-in must then stylize an
animation's frames each on its own, and say so.
"""

import sys

from nst_server import cli
from nst_server.client import protocol

if __name__ == "__main__":
    protocol.FEATURES = ()  # what the server's pong lists (service/server.py reads it there)
    sys.exit(cli.main(["serve", *sys.argv[1:]]))
