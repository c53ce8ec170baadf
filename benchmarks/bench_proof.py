"""What the reconciliation proof adds to a run, on the ~13,000-transaction ledger.

The proof runs on the host between the offline agent's run and the review; this times it,
with what it needs of the loaded ledger (the user's balance assertions, each statement's
closing-day balance), in this process, on proposals like the offline agent's (every missing
line booked, with its evidence), and reports it as a share of `reconcile --dry-run` and of
`bean-check`, both timed in the same run. Target: under 5% of reconcile.
Usage: python -m benchmarks.bench_proof [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time

from benchmarks.common import ACCOUNT, BIN, interleaved, large_ledger


def proof_seconds(runs: int) -> tuple[float, int]:
    from beanagent.core.balance import closing_balances, user_assertions
    from beanagent.core.match import match_statement
    from beanagent.core.proof import prove
    from beanagent.core.proposals import validate_all
    from beanagent.ledger.load import load_ledger
    from beanagent.ledger.view import LedgerView
    from beanagent.settings import Settings
    from beanagent.statements.dispatch import read_statements

    ledger_path, statement = large_ledger()
    ledger = load_ledger(ledger_path)
    view = LedgerView(ledger.entries, ledger.options)
    statements = read_statements([statement], view, Settings(account=ACCOUNT), lambda _: None)
    matches = [match_statement(view, st, 5, "Expenses:FIXME") for st in statements]
    raws = [{"kind": "transaction", "date": ln.date.isoformat(), "narration": ln.description,
             "evidence": [ln.ref.to_json()],
             "postings": [{"account": ACCOUNT, "number": str(ln.amount), "currency": "USD"},
                          {"account": "Expenses:Food:Restaurant", "number": None,
                           "currency": None}]}
            for ln in matches[0].missing]
    items, _ = validate_all(raws, view.accounts, statements, {})
    times = []
    for _ in range(runs):
        start = time.perf_counter()  # everything the proof adds to a run, on the host
        user_assertions(view)
        prove(items, statements, matches, view.accounts, 5,
              balances=closing_balances(view, statements))
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(items)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ledger, statement = large_ledger()
    seconds, proposals = proof_seconds(max(runs, 5))
    samples = interleaved(runs, bean_check=[BIN / "bean-check", ledger],
                          reconcile=[BIN / "beanagent", "reconcile", ledger, statement,
                                     "--account", ACCOUNT, "--dry-run"])
    reconcile = statistics.median(samples["reconcile"])
    check = statistics.median(samples["bean_check"])
    print(f"proof of {proposals} proposals: {seconds * 1000:.1f} ms (median)")
    print(f"reconcile --dry-run {reconcile:.2f} s, bean-check {check:.2f} s (medians)")
    print(f"the proof is {100 * seconds / reconcile:.2f}% of reconcile, "
          f"{100 * seconds / check:.2f}% of bean-check (target < 5% of reconcile)")


if __name__ == "__main__":
    main()
