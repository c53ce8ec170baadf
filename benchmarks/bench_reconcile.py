"""`reconcile --dry-run` on a ~13,000-transaction ledger against `bean-check` of the same file.

Both run with the load cache disabled, interleaved, in one run; the ratio of medians is
the figure (target <= 2.0). Usage: python benchmarks/bench_reconcile.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys

from benchmarks.common import ACCOUNT, BIN, interleaved, large_ledger, summary


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ledger, statement = large_ledger()
    n = sum(1 for line in ledger.read_text().splitlines() if line[:1].isdigit()
            and " * " in line)
    print(f"ledger: {ledger.name}, {n} transactions; statement: {statement.name}")
    samples = interleaved(
        runs,
        bean_check=[BIN / "bean-check", ledger],
        reconcile=[BIN / "beanagent", "reconcile", ledger, statement, "--account", ACCOUNT,
                   "--dry-run"],
    )
    print(f"bean-check           {summary(samples['bean_check'])}")
    print(f"reconcile --dry-run  {summary(samples['reconcile'])}")
    ratio = statistics.median(samples["reconcile"]) / statistics.median(samples["bean_check"])
    best = min(samples["reconcile"]) / min(samples["bean_check"])
    print(f"ratio reconcile / bean-check: {ratio:.2f} of medians, {best:.2f} of minimums "
          "(target <= 2.0)")


if __name__ == "__main__":
    main()
