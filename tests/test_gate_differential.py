"""The gate's incremental check equals a full bean-check (issue 12): hundreds of generated
ledgers and proposal sets (benchmarks/gate_shapes.py), each staged with the real staging
code and gated exactly as the workflow gates it, in the ledger's own real sandbox server,
then checked in full by beancount's loader; the verdicts must be the same (passed or not,
and the same new errors by file, line and message). `python -m
benchmarks.bench_gate_differential` runs thousands."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from benchmarks.bench_gate_differential import InSandbox, compare_round, run
from benchmarks.gate_shapes import make_ledger, make_round

SEED = 12
FEATURES = {"balance", "comments", "crlf", "existing-error", "glob-include", "include",
            "lots", "metadata", "multiline-string", "no-final-newline", "not-in-date-order",
            "pad", "posting-flags", "pushmeta", "pushtag", "root-names", "tags",
            "plugin:check_closing", "plugin:noduplicates"}


def test_the_incremental_gate_equals_a_full_check() -> None:
    result = run(SEED, ledgers=20, rounds=16)
    assert result.tried >= 300
    assert result.agreed == result.tried, "\n".join(result.disagreements[:5])
    # Both paths and both verdicts are exercised: the shortcut is really taken, and
    # shapes pass and fail.
    assert result.incremental >= result.tried // 4
    assert result.tried // 5 <= result.failed <= result.tried * 4 // 5
    assert set(result.features) >= FEATURES, FEATURES - set(result.features)


class CheckingTheOriginal(InSandbox):
    """A gate with a planted fault: it checks the ledger as it was, not the staged copy."""

    def check(self, main: Path, readable: tuple[Path, ...],
              request: dict[str, Any]) -> tuple[list[Any], bool]:
        self.box.begin_check(self.box.ledger, readable)
        return self.box.end_check(), False


def test_the_comparison_catches_a_gate_that_looks_elsewhere(tmp_path: Path) -> None:
    """The differential can fail: a gate that never sees the proposals disagrees with the
    full check on the shapes that fail it."""
    from beanagent.ledger.load import complete, parse_ledger
    from benchmarks.bench_gate_differential import _write

    shape = make_ledger(random.Random(f"{SEED}:0"))
    main = _write(shape, tmp_path)
    parsed = parse_ledger(main)
    full = complete(parsed)
    checker = CheckingTheOriginal(main)
    try:
        rng = random.Random(1)
        outcomes = [compare_round(checker, parsed, full.errors,
                                  make_round(rng, shape, full.entries, r), None)
                    for r in range(8)]
    finally:
        checker.close()
    seen = [o for o in outcomes if o is not None]
    assert any(not passed for _, _, passed, _ in seen)
    assert [same for same, _, _, _ in seen] == [passed for _, _, passed, _ in seen]


def test_the_local_check_equals_a_full_check(monkeypatch: Any) -> None:
    """Ledgers without plugins, pads or lots, checked in this process: the check on the
    new entries' own scope (sandbox/local.py) is taken on many of them and gives the same
    verdict and new errors as beancount's full load on every one."""
    from benchmarks import gate_shapes

    monkeypatch.setattr(gate_shapes, "PLAIN", True)
    result = run(SEED, ledgers=30, rounds=16, in_process=True)
    assert result.tried >= 400
    assert result.agreed == result.tried, "\n".join(result.disagreements[:5])
    assert result.local >= result.tried // 5
    assert result.tried // 5 <= result.failed <= result.tried * 4 // 5


def test_the_local_comparison_can_fail(monkeypatch: Any) -> None:
    """A local check that forgets what the ledger's own assertions say (it drops the
    balance errors) disagrees with the full load somewhere: the test above can fail."""
    from beanagent.sandbox import incremental
    from benchmarks import gate_shapes

    real = incremental.local_errors

    def forgetful(state: Any, new: list[Any]) -> list[Any] | None:
        found = real(state, new)
        return None if found is None else \
            [e for e in found if type(e).__name__ != "BalanceError"]

    monkeypatch.setattr(gate_shapes, "PLAIN", True)
    monkeypatch.setattr(incremental, "local_errors", forgetful)
    result = run(SEED, ledgers=30, rounds=16, in_process=True)
    assert result.local > 0 and result.agreed < result.tried


def test_the_local_check_history_comes_from_columns_and_is_checked(monkeypatch: Any) -> None:
    """The local check rebuilds the history of the accounts it looks at from the server's
    flat columns, merged between events (sandbox/history.py; its child then copies little
    of the server's memory): it does on most local checks, and a history that loses a
    posting now and then disagrees with the full load somewhere."""
    from beanagent.sandbox import history
    from benchmarks import gate_shapes

    real = history.merged_history
    used = []

    def counted(*args: Any) -> list[Any] | None:
        found = real(*args)
        used.append(found is not None)
        return found

    monkeypatch.setattr(gate_shapes, "PLAIN", True)
    monkeypatch.setattr(history, "merged_history", counted)
    result = run(SEED, ledgers=12, rounds=16, in_process=True)
    assert result.agreed == result.tried and sum(used) >= len(used) * 3 // 4 > 0

    def lossy(*args: Any) -> list[Any] | None:
        found = real(*args)
        return None if found is None else \
            [t._replace(postings=t.postings[:-1]) if i % 3 == 1 and len(t.postings) > 1
             else t for i, t in enumerate(found)]

    monkeypatch.setattr(history, "merged_history", lossy)
    result = run(SEED, ledgers=12, rounds=16, in_process=True)
    assert result.local > 0 and result.agreed < result.tried
