import sys

from nst_server.cli import main

sys.exit(main())
