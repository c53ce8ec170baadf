"""Matching and categorisation at scale: statement lines against a ledger ten times larger.

Target: 10,000 statement lines against 100,000 postings in <= 2 s, growing near-linearly
(the curve at 1k, 10k and 100k lines). Entries are built in memory with beancount's own
types (no parse), so the figure is the engine's alone.
Usage: python -m benchmarks.bench_engine [MAX_LINES]
"""

from __future__ import annotations

import datetime
import random
import sys
import time
from decimal import Decimal

from beancount.core import amount, data

from beanagent.ledger.view import LedgerView
from beanagent.sandbox.script_api import Engine
from beanagent.statements.model import Ref, Statement, StatementLine

BANK = "Assets:Bank:Checking"
WORDS = ["blue", "bottle", "whole", "foods", "market", "shell", "uber", "lyft", "amazon",
         "netflix", "spotify", "verizon", "con", "edison", "trader", "joes", "pizza",
         "coffee", "books", "hardware", "pharmacy", "garden", "bakery", "taxi", "hotel"]


def build(lines: int, seed: int = 7) -> tuple[LedgerView, Statement]:
    rng = random.Random(seed)
    payees = sorted({" ".join(rng.sample(WORDS, 2)).title() + f" {i}" for i in range(600)})
    accounts = [f"Expenses:Cat{i % 40}" for i in range(len(payees))]
    start = datetime.date(2015, 1, 1)
    meta = data.new_metadata("bench.beancount", 0)
    entries: list[data.Directive] = [data.Open(meta, start, BANK, ["USD"], None)]
    entries += [data.Open(meta, start, a, None, None) for a in sorted(set(accounts))]
    n_txns = lines * 5  # two postings each: 10 postings per statement line
    days = (datetime.date(2025, 12, 31) - start).days
    txns = []
    for i in range(n_txns):
        k = rng.randrange(len(payees))
        cents = Decimal(rng.randrange(100, 50000)) / 100
        date = start + datetime.timedelta(days=days * i // n_txns)
        txns.append(data.Transaction(
            data.new_metadata("bench.beancount", i + 10), date, "*", payees[k], "", frozenset(),
            frozenset(), [data.Posting(BANK, amount.Amount(-cents, "USD"), None, None, None, None),
                          data.Posting(accounts[k], amount.Amount(cents, "USD"), None, None, None,
                                       None)]))
    entries += txns
    # The statement: the last `lines // 2` transactions (booked) and as many new lines
    # with known payees in bank style (missing).
    booked = txns[-(lines // 2):]
    st_lines = [StatementLine(Ref("stmt.csv", i + 2), t.date, t.postings[0].units.number,
                              f"POS {t.payee.upper()} #{rng.randrange(1000, 9999)}")
                for i, t in enumerate(booked)]
    for i in range(lines - len(booked)):
        k = rng.randrange(len(payees))
        day = booked[i % len(booked)].date
        st_lines.append(StatementLine(Ref("stmt.csv", len(booked) + i + 2), day,
                                      -Decimal(rng.randrange(100, 50000)) / 100 - Decimal("0.001"),
                                      f"SQ *{payees[k].upper()}"))
    st_lines.sort(key=lambda ln: ln.date)
    return LedgerView(entries, {"operating_currency": ["USD"]}), Statement(
        "stmt.csv", "csv", BANK, "USD", tuple(st_lines))


def run(lines: int) -> tuple[float, int, int]:
    view, statement = build(lines)
    start = time.perf_counter()
    engine = Engine(view)
    result = engine.match(statement)
    for line in result.missing:
        engine.suggest(statement, line)
    return time.perf_counter() - start, len(result.matches), len(result.missing)


def main() -> None:
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    previous = None
    for lines in (1_000, 10_000, 100_000):
        if lines > top:
            break
        seconds, matched, missing = run(lines)
        growth = "" if previous is None else f", x{seconds / previous:.1f} for 10x the lines"
        print(f"{lines:>7,} lines vs {lines * 10:>9,} postings: {seconds:6.2f} s "
              f"({matched:,} matched, {missing:,} categorised{growth})")
        previous = seconds
    print("target: 10,000 lines vs 100,000 postings <= 2 s, near-linear growth")


if __name__ == "__main__":
    main()
