"""Accuracy of the reconciler on generated scenarios with an answer key.

For each source ledger (the bundled sample; bean-example ledgers) and seed, every checking
format and every card format is generated (benchmarks/scenarios.py); `beanagent reconcile
--dry-run --json` runs on the damaged ledger with both statements, and the report is graded
against the truth file. Prints per scenario and in total: recall and precision of proposed
entries, counter-account accuracy on payees the ledger has seen, novel payees flagged for
review, planted duplicates flagged, cent typos kept out of the proposals, and whether the
reported balance difference is exactly the one the planted damage explains. Then
counter-account accuracy per layout (each statement format; the multi-leg paychecks and
the brokerage's share purchases on their own lines) and the confidence calibration: per
confidence bucket, how many proposals and the fraction whose account was right, and how
often a proposal shown as confident (`*`, confidence ≥ 0.6) was wrong (target ≤ 3%).

Usage: python -m benchmarks.bench_accuracy [--seeds 1 2 3] [--sources sample example]
[--agent offline] [--limit N] [-v]
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.common import DATA
from benchmarks.grading import calibration_table
from benchmarks.scenario_run import grid, prepare, run_agent
from benchmarks.scenarios import SOURCES, Score

TARGETS = {"recall": 0.97, "precision": 0.99, "counter-account": 0.90}
CONFIDENT_WRONG = 0.03  # at most this share of the proposals shown as confident is wrong


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
    ap.add_argument("--limit", type=int, help="only the first N scenarios of the grid")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    args = ap.parse_args()
    root = DATA / "scenarios"
    total = Score()
    balances = explained = 0
    failed: list[str] = []
    for scenario in grid(args.sources, args.seeds)[:args.limit]:
        out, truth = prepare(scenario, root)
        run = run_agent(out, truth, scenario, args.agent)
        s = run.score
        print(line(scenario.name, s, run.wall_seconds))
        if run.failed:  # graded as an empty report: every line missed
            failed.append(scenario.name)
            print(f"    FAILED (exit {run.exit_code}): {run.error.splitlines()[-1]}")
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
    if failed:
        misses.append(f"{len(failed)} run(s) failed")
    if total.duplicates_flagged < total.duplicates:
        misses.append(f"duplicates flagged {total.duplicates_flagged}/{total.duplicates}")
    print("\ncounter-account accuracy per layout:")
    for name, (right, graded) in sorted(total.layouts.items()):
        print(f"  {name:<22} {right / graded if graded else 1:.3f} ({right}/{graded})")
    print("\ncalibration (graded proposals: seen payees and novel ones):")
    for row in calibration_table(total.calibration):
        print("  " + row)
    wrong, shown = total.confident_wrong
    share = wrong / shown if shown else 0.0
    print(f"shown as confident and wrong: {share:.3f} ({wrong}/{shown})")
    if share > CONFIDENT_WRONG:
        misses.append(f"confident and wrong {share:.3f} > {CONFIDENT_WRONG}")
    print("targets met" if not misses else "targets MISSED: " + "; ".join(misses))
    sys.exit(0)


if __name__ == "__main__":
    main()
