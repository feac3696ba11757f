"""The real server whose engine fails every job with a Python exception, its text full of control characters.

``python -m tests.support.failing_engine [serve options]``: the job must get ``internal`` with words for
people, and the engine's traceback must reach server.log, escaped and indented under its record.
"""

import sys

from nst_server import cli
from nst_server.service import worker

FAILURE_TEXT = "engine made to fail\x1b[31m\n2000-01-01 00:00:00,000 INFO forged line"


def failing_run(conn, cancel, finish, weights_files, progress_interval) -> None:
    """The worker process's entry point (multiprocessing spawns it by name): jobs.serve, with a run that fails."""
    from nst_server.engine import jobs

    def fail(engine, request, progress, decoded=None):
        raise RuntimeError(FAILURE_TEXT)

    jobs.run = fail
    jobs.serve(conn, cancel, finish, weights_files, progress_interval)


if __name__ == "__main__":
    worker._run = failing_run  # what EngineWorker.start spawns
    sys.exit(cli.main(["serve", *sys.argv[1:]]))
