"""Shared helpers for the benchmarks: a generated large ledger and a statement for it."""

from __future__ import annotations

import csv
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
BIN = Path(sys.executable).parent


def bench_env() -> dict[str, str]:
    """The environment benchmarks run the CLI in, read now (tests change it at run time)."""
    return {**os.environ, "BEANCOUNT_DISABLE_LOAD_CACHE": "1", "NO_COLOR": "1"}


ENV = bench_env()
ACCOUNT = "Assets:US:BofA:Checking"


def timed(cmd: Sequence[str | Path], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=ENV, capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0,):
        raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def interleaved(runs: int, **cmds: Sequence[str | Path]) -> dict[str, list[float]]:
    """Alternate the commands so that machine noise hits all of them alike."""
    out: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            out[name].append(timed(cmd))
    return out


def summary(samples: list[float]) -> str:
    return (f"median {statistics.median(samples):.3f} s  min {min(samples):.3f} s  "
            f"(n={len(samples)})")


# The ledgers of the load benchmark (bean-example, seed 7, to 2026-01-01): name -> (first
# day, birth day). "large" (~13,000 transactions) is the one most benchmarks use.
SIZES = {"small": ("2018-01-01", "1980-01-01"), "large": ("1990-01-01", "1960-01-01"),
         "huge": ("1820-01-01", "1800-01-01")}


def large_ledger(drop: int = 8, name: str = "large") -> tuple[Path, Path]:
    """A bean-example ledger (fixed seed; ~13,000 transactions for "large", see SIZES)
    with `drop` checking transactions of its last 45 days removed, and a CSV statement of
    those days."""
    ledger = DATA / f"{name}.beancount"
    statement = DATA / f"{name}-checking.csv"
    if ledger.exists() and statement.exists():
        return ledger, statement
    DATA.mkdir(exist_ok=True)
    full = DATA / f"{name}-full.beancount"
    begin, birth = SIZES[name]
    if not full.exists():  # (bean-example takes minutes for the huge one)
        subprocess.run([BIN / "bean-example", "--date-begin", begin, "--date-end",
                        "2026-01-01", "--date-birth", birth, "--seed", "7", "-o", full],
                       check=True, env=ENV, capture_output=True)
    sys.path.insert(0, str(HERE.parent))
    from beanagent.ledger.load import load_ledger
    from beanagent.ledger.view import LedgerView

    loaded = load_ledger(full)
    view = LedgerView(loaded.entries, loaded.options)
    end = view.end or datetime.date(2025, 12, 31)
    start = end - datetime.timedelta(days=45)
    txns = view.transactions(ACCOUNT, start, end)
    rows = [(t.date, t.amount(ACCOUNT), t.payee or t.narration, t.line) for t in txns]
    dropped = {r[3] for r in rows[:: max(1, len(rows) // drop)][:drop]}
    lines = full.read_text().splitlines(keepends=True)
    keep: list[str] = []
    skipping = False
    for number, text in enumerate(lines, 1):
        if number in dropped:
            skipping = True
        elif skipping and not text.startswith((" ", "\t")):
            skipping = False
        # Assertions after the gap would fail: a clean ledger keeps the comparison fair.
        late_assert = f" balance {ACCOUNT} " in text and text[:10] >= start.isoformat()
        if not skipping and not late_assert:
            keep.append(text)
    ledger.write_text("".join(keep))
    with statement.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Date", "Description", "Amount"])
        for date, amount, desc, _ in rows:
            writer.writerow([date.isoformat(), (desc or "").upper(), str(amount)])
    full.unlink()
    return ledger, statement


def clean() -> None:
    shutil.rmtree(DATA, ignore_errors=True)
