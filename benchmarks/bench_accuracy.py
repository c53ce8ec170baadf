"""Accuracy of the reconciler on generated scenarios with an answer key.

For each source ledger (the bundled sample; bean-example ledgers) and seed, every checking
format and every card format is generated (benchmarks/scenarios.py); `beanagent reconcile
--dry-run --json` runs on the damaged ledger with both statements, and the report is graded
against the truth file. Prints per scenario and in total: recall and precision of proposed
entries, counter-account accuracy on payees the ledger has seen, novel payees flagged for
review, planted duplicates flagged, cent typos kept out of the proposals, and whether the
reported balance difference is exactly the one the planted damage explains.

Usage: python -m benchmarks.bench_accuracy [--seeds 1 2 3] [--sources sample example]
[--agent offline] [-v]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import BIN, DATA, ENV
from benchmarks.scenarios import SOURCES, Score, build, scenarios, score

TARGETS = {"recall": 0.97, "precision": 0.99, "counter-account": 0.90}


def run_one(source: str, seed: int, checking: str, card: str, agent: str,
            root: Path) -> tuple[Score, float]:
    out = root / f"{source}-{seed}-{checking}-{card}"
    truth = build(source, seed, out, checking, card)
    files = [st["file"] for st in truth["statements"]]
    start = time.perf_counter()
    proc = subprocess.run([BIN / "beanagent", "reconcile", "ledger.beancount", *files,
                           "--dry-run", "--json", "--agent", agent],
                          cwd=out, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{out}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return score(truth, json.loads(proc.stdout)), elapsed


def line(name: str, s: Score, elapsed: float | None = None) -> str:
    bal = (f"balance diff {s.balance_reported} (planted {s.balance_expected}"
           f"{', explained' if s.culprit_named else ', NOT explained'})"
           if s.balance_expected else "no closing balance")
    took = f"  {elapsed:.2f} s" if elapsed is not None else ""
    return (f"{name:<44} recall {s.recall:.3f} ({s.true_positive}/{s.to_propose})  "
            f"precision {s.precision:.3f} ({s.true_positive}/{s.proposed})  "
            f"counter {s.counter_accuracy:.3f} ({s.counter_right}/{s.counter_seen})  "
            f"novel flagged {s.novel_flagged}/{s.novel}  dups {s.duplicates_flagged}/"
            f"{s.duplicates}  typos kept out {s.typos_kept_out}/{s.typos}  {bal}{took}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--sources", nargs="+", choices=sorted(SOURCES),
                    default=["sample", "example"])
    ap.add_argument("--agent", default="offline")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    args = ap.parse_args()
    root = DATA / "scenarios"
    total = Score()
    balances = explained = 0
    for source, seed, checking, card in scenarios(args.sources, args.seeds):
        s, elapsed = run_one(source, seed, checking, card, args.agent, root)
        print(line(f"{source} seed {seed} {checking}+{card}", s, elapsed))
        if args.verbose:
            for what in ("false", "missed", "wrong_counter"):
                for item in getattr(s, what):
                    print(f"    {what}: {item}")
        total.add(s)
        if s.balance_expected:
            balances += 1
            explained += s.balance_expected == s.balance_reported and s.culprit_named
    print(line("TOTAL", total))
    print(f"balance difference exactly the planted damage, with a culprit named: "
          f"{explained}/{balances} statements with a closing balance")
    got = {"recall": total.recall, "precision": total.precision,
           "counter-account": total.counter_accuracy}
    misses = [f"{k} {got[k]:.3f} < {v}" for k, v in TARGETS.items() if got[k] < v]
    if total.duplicates_flagged < total.duplicates:
        misses.append(f"duplicates flagged {total.duplicates_flagged}/{total.duplicates}")
    print("targets met" if not misses else "targets MISSED: " + "; ".join(misses))
    sys.exit(0)


if __name__ == "__main__":
    main()
