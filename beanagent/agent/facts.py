"""What an LLM agent is told up front: the script API (from the code's own docstrings, so it
cannot drift), facts about the ledger, and the statements, quoted and capped as data."""

from __future__ import annotations

import inspect
import json
from collections import Counter

from beanagent.ledger.view import LedgerView
from beanagent.sandbox.script_api import Engine, Propose
from beanagent.statements.model import Statement

MAX_ACCOUNTS = 300
MAX_LINES = 400
MAX_DESCRIPTION = 120


def api_reference() -> str:
    parts = []
    for name, cls in (("ledger", LedgerView), ("propose", Propose), ("engine", Engine)):
        parts.append(f"## `{name}`: {inspect.getdoc(cls) or ''}".rstrip())
        for attr, fn in inspect.getmembers(cls, inspect.isfunction):
            if attr.startswith("_"):
                continue
            sig = str(inspect.signature(fn)).replace("(self, ", "(").replace("(self)", "()")
            doc = (inspect.getdoc(fn) or "").strip()
            parts.append(f"- `{name}.{attr}{sig}`" + (f": {doc}" if doc else ""))
    parts.append("- `ledger.accounts`: {name: AccountInfo(name, open, close, currencies, meta)}")
    parts.append("- `statements`: list of Statement(file, format, account, currency, lines, "
                 "closing_balance, closing_date); each line: StatementLine(ref, date, amount "
                 "(Decimal, signed for the holder), description, balance, payee)")
    parts.append("- Globals also include `Decimal`, `date`, `timedelta`. Amounts are Decimal; "
                 "never use float.")
    return "\n".join(parts)


def quote(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """Untrusted text as a JSON string: quoted and escaped (a quote or a newline can't end
    it), capped, and with `<` `>` escaped too, so it can't close the data block."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return json.dumps(text, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def ledger_facts(view: LedgerView, statements: list[Statement]) -> str:
    lines = [f"Transactions from {view.start} to {view.end}; operating currencies: "
             f"{', '.join(view.operating_currencies) or 'none'}.", "Open accounts:"]
    for info in list(view.accounts.values())[:MAX_ACCOUNTS]:
        cur = f" ({', '.join(info.currencies)})" if info.currencies else ""
        closed = f" closed {info.close}" if info.close else ""
        lines.append(f"- {info.name}{cur} opened {info.open}{closed}")
    for st in statements:
        payees = Counter(t.payee or t.narration for t in view.transactions(st.account))
        common = ", ".join(quote(p) for p, _ in payees.most_common(15))
        lines.append(f"Frequent payees on {st.account}: {common}")
    return "\n".join(lines)


def statement_summary(statements: list[Statement]) -> str:
    """Each statement's facts, then its lines inside <statement-data>, one JSON object a
    line (`statement` and `line` are the indexes scripts and tools use); descriptions are
    quoted and capped by `quote`."""
    out = []
    for i, st in enumerate(statements):
        closing = ("none" if st.closing_balance is None
                   else f"{st.closing_balance} {st.currency} as of {st.closing_date}")
        out.append(f"statements[{i}]: {quote(st.file, 200)} ({st.format}) for {st.account} "
                   f"in {st.currency}, {len(st.lines)} lines {st.start}..{st.end}, closing "
                   f"balance {closing}")
        out.append("<statement-data>")
        for n, ln in enumerate(st.lines[:MAX_LINES]):
            out.append(f'{{"statement": {i}, "line": {n}, "date": "{ln.date}", '
                       f'"amount": "{ln.amount}", "description": {quote(ln.description)}}}')
        if len(st.lines) > MAX_LINES:
            out.append(f"… {len(st.lines) - MAX_LINES} more lines (read them in a script)")
        out.append("</statement-data>")
    return "\n".join(out)
