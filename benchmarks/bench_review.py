"""How much of the gate's check the review hides.

Runs `beanagent reconcile` on the ~13,000-transaction ledger in a real pseudo-terminal, as
a person would: the proposals and the diff appear as soon as the staged copy exists, while
the check runs behind them. The "person" answers `q` once the first question appears (the
fastest possible reader: every real reader hides more). The figures come from the run's
audit-log record: the check's duration and the part of it nobody waited for (it ran
behind the host's own load of the ledger, or behind the diff on screen).
Usage: python -m benchmarks.bench_review [RUNS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import pexpect

from benchmarks.common import ACCOUNT, BIN, ENV, large_ledger


def one(ledger: str, statement: str) -> tuple[float, float, float]:
    start = time.perf_counter()
    child = pexpect.spawn(str(BIN / "beanagent"), ["reconcile", ledger, statement, "--account",
                                                   ACCOUNT, "--no-cache"],
                          env={**ENV, "TERM": "dumb"},
                          encoding="utf-8", timeout=120, dimensions=(50, 160))
    child.expect("Accept")
    asked = time.perf_counter() - start
    child.sendline("q")
    child.expect(pexpect.EOF)
    child.close()
    log = subprocess.run([BIN / "beanagent", "log", ledger, "last", "--json"], env=ENV,
                         capture_output=True, text=True, check=True)
    record = json.loads(log.stdout)
    record = record[0] if isinstance(record, list) else record
    check = record["check"]
    return float(check["seconds"]), float(check["hidden_seconds"]), asked


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ledger, statement = large_ledger()
    results = [one(str(ledger), str(statement)) for _ in range(runs)]
    seconds = [r[0] for r in results]
    hidden = [r[1] for r in results]
    asked = [r[2] for r in results]
    print(f"ledger: {ledger.name}; {runs} interactive runs")
    print(f"gate check         median {statistics.median(seconds):.3f} s")
    print(f"hidden             median {statistics.median(hidden):.3f} s "
          f"({statistics.median(h / s for h, s in zip(hidden, seconds, strict=True)):.0%} "
          "of the check)")
    print(f"first question after median {statistics.median(asked):.3f} s")


if __name__ == "__main__":
    main()
