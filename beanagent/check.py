"""The gate: bean-check on the staged copy; only errors the original did not have fail it."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from beanagent.load import LedgerError
from beanagent.stage import Stage


@dataclasses.dataclass(frozen=True)
class GateError:
    file: str  # the original file the error belongs to
    line: int  # its line in the original file (0 when it sits in a proposal)
    message: str
    proposal: str | None  # the proposal the error points into, if any

    def __str__(self) -> str:
        where = f"proposal {self.proposal}" if self.proposal else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


@dataclasses.dataclass(frozen=True)
class GateResult:
    passed: bool
    errors: tuple[GateError, ...]  # new errors only
    seconds: float = 0.0  # how long the check itself ran
    waited: float = 0.0  # how long the run stood still for it (the rest was hidden)


def _locate(stage: Stage, err: LedgerError) -> tuple[str, int, str | None]:
    staged = Path(err.file)
    original = stage.original_of(staged)
    if original is None:
        return err.file, err.line, None
    line_map = stage.line_maps.get(staged)
    if line_map is None or not (1 <= err.line <= len(line_map)):
        return str(original), err.line, None
    where = line_map[err.line - 1]
    if isinstance(where, str):
        return str(original), 0, where
    return str(original), where, None


def _normalise(stage: Stage, message: str) -> str:
    """Error texts name staged paths; name the user's instead so they compare equal."""
    for original, staged in stage.staged.items():
        message = message.replace(str(staged), str(original))
    return message.replace(str(stage.root), str(stage.source_root))


def check_stage(stage: Stage, baseline_errors: list[LedgerError],
                staged_errors: list[LedgerError]) -> GateResult:
    """Compare bean-check's errors on the staged copy (run in the sandbox) with the
    original's: errors the original already had do not count."""
    baseline = Counter((e.file, e.message) for e in baseline_errors)
    new: list[GateError] = []
    for err in staged_errors:
        file, line, proposal = _locate(stage, err)
        message = _normalise(stage, err.message)
        if proposal is None and baseline[(file, message)] > 0:
            baseline[(file, message)] -= 1
            continue
        new.append(GateError(file, line, message, proposal))
    return GateResult(not new, tuple(new))
