"""Categorisation against smart_importer's prediction test sets (its SVM's outputs).

Each set's history becomes the ledger, each imported transaction a statement line, and
`engine.suggest` (as the offline agent calls it) predicts the counter-account and payee.
The expected outputs are smart_importer's own SVM predictions, so the main figure is
agreement with the SVM, not accuracy. Where the history makes the answer unambiguous (one
open, allowed account for this exact payee) both are also scored against that, and the
inline set's denylisted and closed accounts (what its test is about) must never be chosen.
Usage: python -m benchmarks.bench_categorise
"""

from __future__ import annotations

import time

from benchmarks.smart_importer_sets import REALWORLD, Score, load_all, score


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} {part / whole:4.0%}" if whole else "-"


def format_row(s: Score) -> str:
    payee = _pct(s.payees_agreed, s.n) if s.predicts_payee else "-"
    return (f"{s.name:<24}{s.n:>3}  {_pct(s.agreed, s.n):<14}{payee:<13}{s.flagged:>7}  "
            f"{_pct(s.right, s.decided):<13}{_pct(s.svm_right, s.decided):<13}"
            f"{s.forbidden:>4} / {s.svm_forbidden}")


def format_disagreements(s: Score) -> list[str]:
    out = []
    for o in s.outcomes:
        if o.agrees and (not s.predicts_payee or o.payee_agrees):
            continue
        line = o.case.line
        said = " / ".join(repr(x) for x in (line.payee, line.description) if x)
        truth = f"history: {o.case.obvious}" if o.case.obvious else "history: undecided"
        out.append(f"  {s.name} {line.ref.file}:{line.ref.line} {said}: ours {o.account} "
                   f"({o.confidence:.2f}{'' if o.confident else ', flagged'}, payee "
                   f"{o.payee!r}), SVM {o.case.svm_account} (payee {o.case.svm_payee!r}); "
                   f"{truth}")
    return out


def main() -> None:
    if not (REALWORLD / "smart_importer").is_dir():
        print(f"skipped: peer data not available ({REALWORLD / 'smart_importer'} is absent)")
        return
    start = time.perf_counter()
    scores = [score(d) for d in load_all(REALWORLD)]
    elapsed = time.perf_counter() - start
    print(f"smart_importer prediction sets ({REALWORLD / 'smart_importer'})")
    print(f"{'set':<24}{'n':>3}  {'agree w/ SVM':<14}{'payee agree':<13}{'flagged':>7}  "
          f"{'ours vs hist':<13}{'SVM vs hist':<13}forbidden ours / SVM")
    for s in scores:
        print(format_row(s))
    total = Score("total", tuple(o for s in scores for o in s.outcomes), False)
    payees = [o for s in scores if s.predicts_payee for o in s.outcomes]
    print(format_row(total))
    print(f"payee agreement (sets with payee predictions): "
          f"{_pct(sum(o.payee_agrees for o in payees), len(payees))}")
    print("flagged = below the confidence threshold (proposed with `!` for review); "
          "hist = against the history's unambiguous answer, where it has one; "
          "forbidden = denylisted or closed account chosen")
    lines = [x for s in scores for x in format_disagreements(s)]
    if lines:
        print("disagreements with the SVM:")
        print("\n".join(lines))
    print(f"{total.n} lines in {elapsed:.2f} s (loading included)")


if __name__ == "__main__":
    main()
