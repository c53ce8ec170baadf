"""The small commands: `query` and `doctor` (output via render helpers)."""

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
    from beanagent.ledger import LedgerView
    from beanagent.load import load_ledger
    from beanagent.render import render_rows

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
    from beanagent.doctor import doctor_facts, self_test
    from beanagent.render import render_doctor

    canaries, layers = self_test()
    render_doctor(doctor_facts(), layers, canaries)
    ok = all(c.blocked for c in canaries) and not layers.get("missing")
    return 0 if ok else 5
