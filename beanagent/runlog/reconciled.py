"""Which statement files were reconciled before (issue 14): a statement whose lines were all
matched or committed is recorded by its sha256, so a bare `reconcile` skips it next time.

Stub: the lookup is filled in by the "remember" work; until then nothing is remembered."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from beanagent.settings import Settings


def reconciled_before(ledger_path: Path, settings: Settings) -> dict[str, str]:
    """sha256 (hex) of each statement file reconciled before -> when and in which run
    (e.g. "2025-12-03, run 3f2a9c1d"), for the inbox listing."""
    return {}
