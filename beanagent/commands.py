"""The small commands: `query`, `doctor` and `log` (output via render helpers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def run_query(ledger_path: Path, bql: str, as_json: bool) -> None:
    from beanagent.ledger.load import load_ledger
    from beanagent.ledger.view import LedgerView
    from beanagent.ui.tables import render_rows

    ledger = load_ledger(ledger_path, str(ledger_path))
    view = LedgerView(ledger.entries, ledger.options)
    try:
        rows = view.query(bql)
    except Exception as exc:  # beanquery's parse/compile errors: the user's query is wrong
        name = type(exc).__module__ or ""
        if not name.startswith("beanquery"):
            raise
        raise BadInputError(f"query failed: {str(exc).splitlines()[0] if str(exc) else exc}"
                            ) from None
    if as_json:
        sys.stdout.write(json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows],
                                    indent=2, ensure_ascii=False) + "\n")
    else:
        render_rows(rows)


def run_doctor() -> int:
    """0 when every layer is there and every canary attack failed; 5 otherwise."""
    from beanagent.sandbox.doctor import doctor_facts, self_test
    from beanagent.ui.tables import render_doctor

    canaries, layers = self_test()
    render_doctor(doctor_facts(), layers, canaries)
    ok = all(c.blocked for c in canaries) and not layers.get("missing")
    return 0 if ok else 5


def run_log(ledger_path: Path, run_id: str | None, as_json: bool, limit: int) -> None:
    """`beanagent log`: the runs of this ledger, newest first, or one run in full."""
    from beanagent.runlog.history import find_run, format_log, format_run, load_log, summary
    from beanagent.settings import load_settings

    log = load_log(ledger_path, load_settings(ledger_path))
    if run_id is not None:
        record = find_run(log, run_id)
        sys.stdout.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n" if as_json
                         else format_run(record))
        return
    records = log.records[::-1][:limit]
    if as_json:
        sys.stdout.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
        return
    sys.stdout.write(format_log([summary(r) for r in records]))
    shown = f"{len(records)} of {len(log.records)} run(s)" if records else "no runs yet"
    skipped = f"; {log.skipped} unreadable line(s) skipped" if log.skipped else ""
    sys.stderr.write(f"{shown} in {log.path}{skipped}\n")
