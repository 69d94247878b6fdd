"""The ``bubble-abm`` command's entry point: :func:`bubble_abm.cli.main`, imported here so that
a Ctrl-C while its modules (NumPy, pandas, Mesa) load exits with a one-line message and status
130, as a Ctrl-C during a command does, instead of an import traceback."""

from __future__ import annotations

import signal
import sys


def main() -> int:
    try:
        from bubble_abm.cli import main as cli_main
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting: a second Ctrl-C changes nothing
        print("bubble-abm: error: interrupted", file=sys.stderr)
        return 130
    return cli_main()
