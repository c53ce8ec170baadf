"""Kill writes to a ledger with SIGKILL at every kind of point, and check nothing is torn.

    python -m benchmarks.stress_commit [N] [--seed S] [--json] [--dir DIR]

Each of the N runs makes a fresh three-file ledger (the main file, an include beside it and
one in a subfolder; every write changes all three), and a child process (fork; see
`benchmarks/crash.py`) does one of:

- commit:   `commit_files` with the real check after writing (bean-check passes);
- rollback: the same with entries that make the written ledger fail the check, so the
            commit puts the old bytes back;
- undo:     `undo_commits` of a commit made beforehand.

The child is killed with SIGKILL: in three runs of four just before a file-system step
chosen from one of the phases below (the child counts its own steps, so the point is exact:
each run takes the next phase in turn, then a random step within it); in the fourth after a
random delay into the write. Then:

1. every file holds exactly its old or its new bytes (never torn, never missing);
2. "the next run" (another child calling `recover`, itself killed at a random step in half
   of the runs, then a clean one) leaves all three files old or all three new, no temp file,
   no unfinished journal; never the new files of a write whose ledger fails the check;
3. undoing every recorded commit gives back the original bytes of every file.

Prints counts per kill point and per outcome; exits 1 on any violation. `tests/test_faults.py`
runs a small number of the same.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError
from beanagent.files.commit import bean_check_here, commit_files, recover
from beanagent.files.journal import Journal
from beanagent.files.undo import undo_commits
from beanagent.ledger.load import load_ledger
from beanagent.model import Ledger
from benchmarks import crash
from benchmarks.crash import ChildResult, Cue

MAIN = """\
option "title" "Stress"
option "operating_currency" "USD"
include "more.beancount"
include "sub/card.beancount"

2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Liabilities:Card USD
2024-01-01 open Expenses:Food
2024-01-01 open Equity:Opening
"""
MORE = "".join(
    f'2024-{m:02d}-{d:02d} * "Shop {m}-{d}" "groceries"\n'
    f"  Assets:Bank:Checking  -{d}.{m:02d} USD\n  Expenses:Food\n\n"
    for m in range(1, 13) for d in range(1, 28)
) + "".join(f"; padding so that writes take a while: {i:06d} {'x' * 60}\n"
            for i in range(3000))
CARD = '2024-02-01 * "Cafe"\n  Liabilities:Card  -3.50 USD\n  Expenses:Food\n'
FILES = {"main.beancount": MAIN, "more.beancount": MORE, "sub/card.beancount": CARD}
NEW = {"main.beancount": MAIN + "2024-01-01 open Expenses:Rent\n",
       "more.beancount": MORE + '2024-12-30 * "Landlord"\n  Assets:Bank:Checking  -900 USD\n'
                                "  Expenses:Rent\n",
       "sub/card.beancount": CARD + '2024-12-31 * "Bakery"\n  Liabilities:Card  -2 USD\n'
                                    "  Expenses:Food\n"}
BAD = {**NEW, "sub/card.beancount": CARD + '2024-12-31 * "?"\n  Liabilities:Card  -2 USD\n'
                                            "  Expenses:Nowhere\n"}  # an unopened account
ORIGINAL = {k: v.encode() for k, v in FILES.items()}
SCENARIOS = ("commit", "rollback", "undo")
PHASES = {
    "A": "before the journal is written",
    "B": "journal written, temp files being written",
    "C": "between two files' renames",
    "D": "all renamed, before the journal says done (the check)",
    "R": "putting the old bytes back after the failed check",
    "E": "journal says done, or returned",
}


def make_books(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    (root / "sub").mkdir(parents=True)
    for name, text in FILES.items():
        (root / name).write_text(text)
    return root / "main.beancount"


def read_books(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for name in FILES:
        try:
            out[name] = (root / name).read_bytes()
        except FileNotFoundError:
            out[name] = None
    return out


def expected_versions(scenario: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(old, new) bytes of the files, for the write the scenario's child does."""
    new = {k: v.encode() for k, v in (BAD if scenario == "rollback" else NEW).items()}
    if scenario == "undo":
        return new, ORIGINAL
    return ORIGINAL, new


_LEDGERS: dict[Path, Ledger] = {}


def _loaded(main: Path) -> Ledger:
    """The files are rewritten identically for every run, so one load serves them all."""
    if main not in _LEDGERS:
        _LEDGERS[main] = load_ledger(main)
    return _LEDGERS[main]


def _commit(main: Path, changes: dict[str, str]) -> None:
    ledger = _loaded(main)
    commit_files(ledger, {main.parent / k: v.encode() for k, v in changes.items()},
                 lambda: bean_check_here(main), ledger.errors)


def prepare(scenario: str, root: Path) -> Path:
    main = make_books(root)
    if scenario == "undo":
        _commit(main, NEW)
    return main


def act(scenario: str, main: Path) -> None:
    """What the child does (module-level, so that `spawn` can pickle it)."""
    if scenario == "commit":
        _commit(main, NEW)
    elif scenario == "rollback":
        _commit(main, BAD)
    elif scenario == "undo":
        undo_commits(main)
    elif scenario == "recover":
        recover(main)
    else:
        raise ValueError(scenario)


def run_child(scenario: str, root: Path, cue: Cue, **kw: Any) -> ChildResult:
    """`scenario` done by a child process on the books in `root` (see benchmarks.crash)."""
    return crash.run_child(functools.partial(act, scenario, root / "main.beancount"), root,
                           cue, **kw)


# --- phases and checks ------------------------------------------------------------------------

def phase_bounds(scenario: str, labels: list[str]) -> list[tuple[str, int, int]]:
    """(phase, first step, last step) for killing "just before step k"; the step count
    itself (len(labels)) is "after it returned"."""
    journal = [i for i, lb in enumerate(labels) if lb.endswith("-> journal")]
    renames = [i for i, lb in enumerate(labels)
               if lb.startswith("rename temp(") and ", new)" in lb]
    first, last = renames[0], renames[-1]
    pending = journal[0]
    after = next(i for i in journal if i > last)  # the done (or rollback) journal write
    out = [("A", 0, pending), ("B", pending + 1, first), ("C", first + 1, last),
           ("D", last + 1, after)]
    out.append(("R" if scenario == "rollback" else "E", after + 1, len(labels)))
    return out


def phase_of(bounds: list[tuple[str, int, int]], k: int) -> str:
    return next(p for p, lo, hi in bounds if lo <= k <= hi)


def temps_in(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".beanagent-" in p.name)


def classify(files: dict[str, bytes | None], old: dict[str, bytes],
             new: dict[str, bytes]) -> dict[str, str]:
    out = {}
    for name, data in files.items():
        out[name] = "old" if data == old[name] else "new" if data == new[name] else "TORN"
    return out


def undo_to_the_start(main: Path) -> bool:
    for _ in range(10):
        try:
            undo_commits(main)
        except BadInputError:
            break
    return read_books(main.parent) == ORIGINAL


@dataclasses.dataclass
class Tally:
    runs: int = 0
    kills: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    modes: Counter[str] = dataclasses.field(default_factory=Counter)
    outcomes: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    recovery_killed: int = 0
    random_hits: int = 0  # random delays that landed inside the write (not after it)
    failures: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"runs": self.runs, "modes": dict(self.modes),
                "kills": {f"{s}/{p}": n for (s, p), n in sorted(self.kills.items())},
                "outcomes": {f"{s}/{o}": n for (s, o), n in sorted(self.outcomes.items())},
                "recovery_killed": self.recovery_killed, "random_hits": self.random_hits,
                "failures": self.failures}


def learn_steps(work: Path, method: str) -> dict[str, ChildResult]:
    """One uninterrupted run of each scenario: its steps, and how long it takes."""
    out = {}
    for scenario in SCENARIOS:
        root = work / "books"
        prepare(scenario, root)
        result = run_child(scenario, root, Cue(record=True), method=method)
        if result.status not in (0, 3):
            raise RuntimeError(f"{scenario}: {result.status} {result.message}")
        out[scenario] = result
    return out


def one_run(i: int, scenario: str, cue: Cue, kill_after: float | None, work: Path,
            bounds: list[tuple[str, int, int]], rng: random.Random, tally: Tally,
            method: str) -> None:
    root = work / "books"
    main = prepare(scenario, root)
    old, new = expected_versions(scenario)
    result = run_child(scenario, root, cue, method=method, kill_after=kill_after)
    where = f"run {i} ({scenario}, killed before step {result.steps})"
    if result.status is not None and result.status not in (0, 3):
        tally.failures.append(f"{where}: exit {result.status}: {result.message}")
        return
    phase = phase_of(bounds, result.steps) if result.status is None else "E"
    tally.random_hits += kill_after is not None and result.status is None
    tally.kills[(scenario, phase)] += 1
    states = classify(read_books(root), old, new)
    if "TORN" in states.values():
        tally.failures.append(f"{where}: a torn file after the kill: {states}")
        return
    if rng.random() < 0.5:  # the next run dies too, partway through its recovery
        at = rng.randrange(1, 16)
        again = run_child("recover", root, Cue(kill_at=at), method=method)
        tally.recovery_killed += again.status is None and again.steps == at
        states = classify(read_books(root), old, new)
        if "TORN" in states.values():
            tally.failures.append(f"{where}: a torn file after a killed recovery: {states}")
            return
    notes = recover(main)  # the next run, in this process (the child's version is above)
    states = classify(read_books(root), old, new)
    left = set(states.values())
    journal = Journal(main)
    if len(left) != 1 or temps_in(root) or journal.has_unfinished():
        tally.failures.append(f"{where}: after recovery {states}, temps {temps_in(root)}, "
                              f"unfinished journal {journal.has_unfinished()}")
        return
    if scenario == "rollback" and left == {"new"}:
        tally.failures.append(f"{where}: a commit whose written ledger fails the check was "
                              "kept")
        return
    verb = "finished" if any("finished" in n for n in notes) else \
        "undone" if notes else "nothing to recover"
    tally.outcomes[(scenario, f"{verb}: all {left.pop()}")] += 1
    if not undo_to_the_start(main):
        tally.failures.append(f"{where}: undoing every commit did not give the original back")


def stress(n: int, seed: int, work: Path, method: str = "fork") -> Tally:
    rng = random.Random(seed)
    learned = learn_steps(work, method)
    bounds = {s: phase_bounds(s, learned[s].labels) for s in SCENARIOS}
    combos = [(s, p) for s in SCENARIOS for p, _, _ in bounds[s]]
    durations = {s: learned[s].seconds for s in SCENARIOS}
    tally = Tally()
    step_runs = 0
    for i in range(n):
        if i % 4 == 3:
            scenario = SCENARIOS[i % len(SCENARIOS)]
            cue, kill_after = Cue(), rng.uniform(0, durations[scenario] * 1.1)
            tally.modes["random delay"] += 1
        else:
            scenario, phase = combos[step_runs % len(combos)]
            step_runs += 1
            lo, hi = next((lo, hi) for p, lo, hi in bounds[scenario] if p == phase)
            cue, kill_after = Cue(kill_at=rng.randint(lo, hi)), None
            tally.modes["chosen step"] += 1
        one_run(i, scenario, cue, kill_after, work, bounds[scenario], rng, tally, method)
        tally.runs += 1
    return tally


def _row(head: str, cells: Sequence[object]) -> str:
    return f"{head:<58}" + "".join(f"{c!s:>10}" for c in cells)


def format_tally(tally: Tally, seed: int, work: Path, seconds: float) -> str:
    lines = [f"stress_commit: {tally.runs} runs, seed {seed}, in {work} "
             f"({seconds:.0f} s); three files per ledger, all three changed by each write",
             f"kill: {tally.modes['chosen step']} at a chosen step, "
             f"{tally.modes['random delay']} after a random delay ({tally.random_hits} of them "
             "inside the write); "
             f"the next run was killed during its recovery too in {tally.recovery_killed}",
             "", _row("killed", SCENARIOS)]
    for p, text in PHASES.items():
        row = [tally.kills[(s, p)] for s in SCENARIOS]
        if any(row):
            lines.append(_row(text, row))
    lines.append("")
    lines.append(_row("after the next run's recovery", SCENARIOS))
    for outcome in sorted({o for _, o in tally.outcomes}):
        row = [tally.outcomes[(s, outcome)] for s in SCENARIOS]
        lines.append(_row(outcome, row))
    ok = tally.runs - len(tally.failures)
    lines.append("")
    lines.append(f"each file old or new after every kill, the set all old or all new after "
                 f"recovery, and undo back to the original bytes: {ok}/{tally.runs} runs")
    lines.extend(f"FAILED {f}" for f in tally.failures)
    return "\n".join(lines)


@contextlib.contextmanager
def _work_dir(given: str | None) -> Iterator[Path]:
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        yield Path(given)
        return
    with tempfile.TemporaryDirectory(prefix="beanagent-stress-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stress_commit")
    parser.add_argument("runs", nargs="?", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", help="work folder (default: a temp folder)")
    parser.add_argument("--json", action="store_true", help="print the tally as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with _work_dir(args.dir) as work:
        tally = stress(args.runs, args.seed, work)
        if args.json:
            print(json.dumps(tally.to_json(), indent=1))
        else:
            print(format_tally(tally, args.seed, work, time.monotonic() - started))
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
