"""The gate's check, as the workflow and the agent's in-loop `propose.check()` both run it:
start bean-check of a staged copy in the sandbox, then take its verdict; and the form a
gate error takes when an agent is told of it."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from beanagent.core.gate import gate_result
from beanagent.files.stage import incremental_request
from beanagent.model import GateError, GateResult, Ledger, Staged
from beanagent.sandbox.runner import Sandbox
from beanagent.text import display_path


@dataclasses.dataclass(frozen=True)
class Checking:
    """A staged copy whose bean-check is running in the sandbox since `started`."""

    staged: Staged
    started: float


def readable_for_check(ledger: Ledger, staged: Staged) -> tuple[Path, ...]:
    """What the caged check may read: the staged tree and the folders it links into."""
    return (staged.root, staged.source_root, *sorted({p.parent for p in ledger.files}))


def start_check(sandbox: Sandbox, ledger: Ledger, staged: Staged) -> Checking:
    started = time.monotonic()
    sandbox.begin_check(staged.main, readable_for_check(ledger, staged),
                        incremental_request(ledger, staged))
    return Checking(staged, started)


def check_verdict(sandbox: Sandbox, checking: Checking, full: Ledger) -> GateResult:
    """The check's result. It ran since it started, behind the host's own full load and,
    in a review, behind the proposals on screen: `waited` is what was left to wait for."""
    blocked = time.monotonic()
    verdict = gate_result(checking.staged, full.errors, sandbox.end_check())
    now = time.monotonic()
    ran = sandbox.last_check.get("seconds")
    return dataclasses.replace(verdict, seconds=ran if ran is not None
                               else now - checking.started, waited=now - blocked)


def format_gate_error(e: GateError) -> str:
    """`file:line: message (proposal P3)`, as the agent is told it."""
    where = display_path(e.file) + (f":{e.line}" if e.line else "")
    return f"{where}: {e.message}" + (f" (proposal {e.proposal})" if e.proposal else "")
