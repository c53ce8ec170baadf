"""`reconcile --dry-run` on a ~13,000-transaction ledger against `bean-check` of the same file.

Both run with the load cache disabled, interleaved, in one run; the ratio of medians is
the figure (target <= 2.0). Usage: python benchmarks/bench_reconcile.py [RUNS]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ACCOUNT, BIN, interleaved, large_ledger, summary


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ledger, statement = large_ledger()
    n = sum(1 for line in ledger.read_text().splitlines() if line[:1].isdigit()
            and " * " in line)
    print(f"ledger: {ledger.name}, {n} transactions; statement: {statement.name}")
    # The bare command (issue 14): the same statement found in an inbox beside a copy of
    # the ledger, its account guessed from the ledger's entries (no rule, no --account).
    books = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    shutil.copy(ledger, books / ledger.name)
    (books / "inbox").mkdir()
    shutil.copy(statement, books / "inbox" / statement.name)
    (books / "beanagent.toml").write_text('audit_log = "off"\n')
    try:
        samples = interleaved(
            runs,
            bean_check=[BIN / "bean-check", ledger],
            # cold, as bean-check is (the load cache's warm runs: bench_cache)
            reconcile=[BIN / "beanagent", "reconcile", ledger, statement, "--account",
                       ACCOUNT, "--dry-run", "--no-cache"],
            bare=[BIN / "beanagent", "reconcile", books / ledger.name, "--dry-run",
                  "--no-cache"],
        )
    finally:
        shutil.rmtree(books)
    print(f"bean-check           {summary(samples['bean_check'])}")
    print(f"reconcile --dry-run  {summary(samples['reconcile'])}")
    print(f"bare (inbox) run     {summary(samples['bare'])}")
    base = statistics.median(samples["bean_check"])
    ratio = statistics.median(samples["reconcile"]) / base
    best = min(samples["reconcile"]) / min(samples["bean_check"])
    print(f"ratio reconcile / bean-check: {ratio:.2f} of medians, {best:.2f} of minimums "
          "(target <= 2.0)")
    print(f"ratio bare / bean-check: {statistics.median(samples['bare']) / base:.2f} of "
          "medians (the inbox parses the ledger once more to identify its files)")


if __name__ == "__main__":
    main()
