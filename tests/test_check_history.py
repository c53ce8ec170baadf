"""The local check's merged history (sandbox/history.py) makes `ops.balance` find exactly
what it finds on the load's own transactions: random ledgers whose running balances cross
zero and whose amounts are written with different exponents (the "accumulated" amount a
message shows depends on both), checked with new entries inserted among them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from beanagent.ledger.load import load_in_full
from beanagent.ledger.snapshot import Snapshot, encode
from beanagent.sandbox.history import History, merged_history
from beanagent.sandbox.incremental import _parse_block, file_digests

AMOUNTS = ["5", "5.00", "-5", "-5.00", "0.10", "-0.1", "2.5", "-2.50", "10", "-10.000", "0",
           "0.00"]


def _ledger(rng: random.Random) -> tuple[str, str]:
    lines = ["2020-01-01 open Assets:A", "2020-01-01 open Assets:A:Sub",
             "2020-01-01 open Assets:B", "2020-01-01 open Equity:E", ""]
    for day in range(1, 28):
        for _ in range(rng.randint(0, 2)):
            account = rng.choice(["Assets:A", "Assets:A:Sub", "Assets:B"])
            amount = rng.choice(AMOUNTS)
            lines += [f'2020-02-{day:02d} * "t"', f"  {account}  {amount} USD",
                      "  Equity:E", ""]
        if rng.random() < 0.3:
            lines += [f"2020-02-{day:02d} balance {rng.choice(['Assets:A', 'Assets:B'])}  "
                      f"{rng.choice(['0', '0.00', '5', '5.00', '-2.50', '10'])} USD", ""]
    new = []
    for n in range(rng.randint(1, 3)):
        day = rng.randint(1, 27)
        new += [f'2020-02-{day:02d} * "new {n}"',
                f"  {rng.choice(['Assets:A', 'Assets:A:Sub'])}  {rng.choice(AMOUNTS)} USD",
                "  Equity:E", ""]
    return "\n".join(lines) + "\n", "\n".join(new) + "\n"


def history_for(history: History) -> dict[str, list[tuple[int, int, int, str, str]]]:
    """Each account's postings as (order, day, line, currency, number)."""
    return {name: [(o, d, ln, history.currencies[c], cols.numbers[s:e].decode())
                   for o, d, ln, c, s, e in cols.rows()]
            for name, cols in history.columns.items()}


def _errors(entries: list[Any], options: dict[str, Any]) -> list[str]:
    from beancount.core import data
    from beancount.ops import balance

    _, found = balance.check(sorted(entries, key=data.entry_sortkey), options)
    return [f"{e.entry.date} {e.message}" for e in found]


def test_merged_history_checks_like_the_loads_own(tmp_path: Path) -> None:
    from beancount.core import data
    from beancount.parser import booking

    rng = random.Random(16)
    merged_used = failing = 0
    shown: set[str] = set()
    for round_ in range(150):
        text, block = _ledger(rng)
        path = tmp_path / f"l{round_}.beancount"
        path.write_text(text)
        full = load_in_full(path)
        options = full.options
        snapshot = Snapshot.decode(*encode(full.entries, full.errors, options,
                                           file_digests(options)))
        new, _ = _parse_block(block, str(path), 10_000, options)
        booked, _ = booking.book(sorted(new, key=data.entry_sortkey), options)
        accounts = {"Assets:A", "Assets:B"}
        balances = [e for e in full.entries if isinstance(e, data.Balance)]
        opens = [e for e in full.entries if isinstance(e, data.Open)]
        txns = [e for e in full.entries if isinstance(e, data.Transaction)]
        merged = merged_history(History(snapshot.txns), accounts, set(), [*balances, *booked])
        assert merged is not None
        merged_used += sum(len(t.postings) for t in merged) < sum(
            len([p for p in t.postings if p.account.startswith("Assets:")]) for t in txns)
        expected = _errors([*opens, *balances, *txns, *booked], options)
        failing += bool(expected)
        shown.update(m.split("accumulated ")[1].split(" USD")[0] for m in expected
                     if "accumulated" in m)
        assert _errors([*opens, *balances, *merged, *booked], options) == expected, text + block
    assert merged_used > 100 and failing > 30
    # the amounts shown kept the exponents the sums gave, zero and not
    assert "0" in shown and any(x.endswith(".000") for x in shown)
