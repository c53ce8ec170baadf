"""The sandbox: a fork-server (server) that runs agent scripts and bean-checks in caged
children (layers), and the host's side of it (runner)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from beanagent.ledger.cache import LoadCache
    from beanagent.sandbox.runner import Sandbox
    from beanagent.settings import Settings


def start_sandbox(ledger: Path, settings: Settings, warn: Callable[[str], None],
                  cache: LoadCache | None = None) -> Sandbox:
    """Make a write a crash interrupted whole again (so that the server loads the files as
    they will stay), then start the server loading the ledger. Imported lazily: the CLI
    calls this before its own heavier imports, since the server's load is on the critical
    path of the run (its one full load, or the load cache's copy: `cache`)."""
    from beanagent.files.commit import recover
    from beanagent.sandbox.runner import Sandbox

    for note in recover(ledger):
        warn(note)
    return Sandbox(ledger.resolve(), step_timeout=settings.step_timeout,
                   allow_weak=settings.allow_weak_sandbox, cache=cache,
                   accounts=[settings.account] if settings.account else ()).start()
