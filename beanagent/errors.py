"""The one error type users see, and the exit codes it maps to.

What the user must fix becomes a `BeanagentError` with an actionable one-line message;
the CLI is the only place that turns it into an exit status. Bugs are not caught.
"""

from __future__ import annotations

import enum
from typing import Any


class ExitCode(enum.IntEnum):
    """Documented exit statuses (README, "Exit codes")."""

    OK = 0  # done, or nothing to do
    DECLINED = 1  # the user declined every proposal
    BAD_INPUT = 2  # bad input or usage
    CHECK_FAILED = 3  # the staged ledger failed bean-check
    LEDGER_CHANGED = 4  # a ledger file changed on disk during the run
    SANDBOX = 5  # sandbox or agent failure
    WRITE_FAILED = 6  # a file could not be written (disk full, permissions); nothing changed
    INTERRUPTED = 130  # Ctrl-C (SIGINT): nothing was written


class BeanagentError(Exception):
    """A problem the user can act on; `str(err)` is the single line shown to them."""

    exit_code: ExitCode = ExitCode.BAD_INPUT
    kind = "bad_input"  # the `error.type` of the --json report

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        self.message = message
        self.file = file
        self.line = line
        super().__init__(self.format())

    def format(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return f"{where}{self.message}"


class BadInputError(BeanagentError):
    exit_code = ExitCode.BAD_INPUT
    kind = "bad_input"


class CheckFailedError(BeanagentError):
    exit_code = ExitCode.CHECK_FAILED
    kind = "check_failed"


class LedgerChangedError(BeanagentError):
    exit_code = ExitCode.LEDGER_CHANGED
    kind = "ledger_changed"


class LedgerBusyError(LedgerChangedError):
    """Another beanagent run holds the ledger's write lock."""

    kind = "ledger_busy"


class WriteFailedError(BeanagentError):
    exit_code = ExitCode.WRITE_FAILED
    kind = "write_failed"


class SandboxError(BeanagentError):
    """The sandbox could not run a script or a check (layers missing, the server died)."""

    exit_code = ExitCode.SANDBOX
    kind = "sandbox"


class AgentError(BeanagentError):
    """The agent could not do its work: a model's API failed after its retries, or no
    script of the agent's ran."""

    exit_code = ExitCode.SANDBOX
    kind = "agent"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 run: Any = None, seconds: float | None = None):
        super().__init__(message, file=file, line=line)
        self.run = run  # the AgentRun so far, when there is one: the report shows its cost
        self.seconds = seconds
