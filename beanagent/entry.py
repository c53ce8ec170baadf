"""The `beanagent` command: the sandbox server of a run starts before the command line's
own imports (sandbox/early.py), then the command line runs (cli.py)."""

from __future__ import annotations

import sys


def main() -> None:
    from beanagent.sandbox.early import prespawn

    prespawn(sys.argv[1:])
    from beanagent.cli import main as cli_main

    cli_main()
