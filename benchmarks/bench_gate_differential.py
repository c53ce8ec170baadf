"""The gate's incremental check against a full bean-check, on thousands of generated shapes.

A shape is a ledger (one to four files: comments and org headings, flags, tags, links,
metadata, strings spanning lines, pushtag/pushmeta blocks, options, includes and globbed
includes, CRLF files, files without a final newline, files out of date order, balances and
pads, lots at cost, plugins, errors the ledger already has) and a set of proposals
(transactions, balances right and wrong, opens, entries that break a later assertion,
copies of existing entries, shares moved without cost). Each is staged with the real
staging code and gated exactly as the workflow gates it: the real sandbox server of that
ledger (`Sandbox.begin_check(..., incremental_request(...))`, `end_check`) and
`gate_result` against the ledger's own errors. The oracle is beancount's full loader run
on the staged main file, through the same `gate_result`. They agree when both pass or both
fail with the same new errors (file, line in the original file or the proposal, message
with quoted line numbers aside: core/same_error.py).

    python -m benchmarks.bench_gate_differential [--ledgers N] [--rounds M] [--seed S]
                                                 [--in-process] [--plain] [--cached]
                                                 [--show K]

prints how many shapes it tried, how many agreed and how many took the incremental path.
`--in-process` runs the server's check code in this process (no cage, no fork): with
PYTHONPATH pointing at another checkout, it measures that version's incremental check.
`--cached` checks with servers that serve their load from the load cache (each ledger is
loaded once in full and kept first), as a repeat run does.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.gate_shapes import LedgerShape, make_ledger, make_round


@dataclasses.dataclass
class Result:
    tried: int = 0
    agreed: int = 0
    incremental: int = 0  # shapes the gate checked incrementally
    local: int = 0  # of which on the new entries' own scope (sandbox/local.py; in-process)
    failed: int = 0  # shapes the full check fails
    features: Counter[str] = dataclasses.field(default_factory=Counter)
    disagreements: list[str] = dataclasses.field(default_factory=list)

    def line(self) -> str:
        return (f"{self.tried} shapes tried, {self.agreed} agreed "
                f"({self.tried - self.agreed} disagreed); {self.incremental} checked "
                f"incrementally ({self.local} of them locally), {self.failed} failing a "
                "full check")


class InProcess:
    """The server's check code (load_in_full, Booked, incremental.check, else the full
    load) in this process: no fork, no cage."""

    def __init__(self, main: Path):
        from beanagent.ledger.load import load_in_full
        from beanagent.ledger.snapshot import encode
        from beanagent.sandbox.incremental import Booked, file_digests
        from beanagent.sandbox.serverload import history_of, serving_view, use_history

        full = load_in_full(main)
        self.state = Booked(full.booked, full.options, full.entries, full.balanced)
        # as the server readies itself: the local check's history from plain data
        body, _ = encode(full.entries, full.errors, full.options, file_digests(full.options))
        use_history(self.state, history_of(serving_view(full.entries, full.options, body)))

    def check(self, main: Path, readable: tuple[Path, ...],
              request: dict[str, Any]) -> tuple[list[Any], bool]:
        from beanagent.ledger.load import load_entries, to_ledger_errors
        from beanagent.sandbox.incremental import check

        errors = check(self.state, request)
        if errors is None:
            return to_ledger_errors(load_entries(main)[1]), False
        return to_ledger_errors(errors), True

    def close(self) -> None:
        pass


class InSandbox:
    """The ledger's own sandbox server, as the workflow uses it."""

    def __init__(self, main: Path):
        from beanagent.sandbox.runner import Sandbox

        self.box = Sandbox(main).start()

    def check(self, main: Path, readable: tuple[Path, ...],
              request: dict[str, Any]) -> tuple[list[Any], bool]:
        self.box.begin_check(main, readable, request)
        errors = self.box.end_check()
        return errors, bool(self.box.last_check.get("incremental"))

    def close(self) -> None:
        self.box.close()


class FromCache(InSandbox):
    """The ledger's sandbox server serving its load from the load cache (a first server
    loaded it in full and kept it), as a repeat run gets it."""

    def __init__(self, main: Path):
        from beanagent.ledger.cache import LoadCache
        from beanagent.sandbox.runner import Sandbox

        with Sandbox(main, cache=LoadCache()) as first:
            first.snapshot()
        cache = LoadCache()
        self.box = Sandbox(main, cache=cache).start()
        self.box.snapshot()
        if cache.state != "hit":
            raise SystemExit(f"{main}: the load cache was not used ({cache.state})")


def _key(e: Any) -> tuple[str, int, str, str | None]:
    """A new error as the gate reports it, the line numbers its message quotes aside (as
    core/same_error.message_key; written out here so that `--in-process` can measure an
    older checkout, which lacks that module)."""
    return e.file, e.line, re.sub(r"""(['"]lineno['"]\s*:\s*)\d+""", r"\1_", e.message), \
        e.proposal


def compare_round(checker: InProcess | InSandbox, parsed: Any, baseline: list[Any],
                  raws: list[dict[str, Any]], target: Path | None
                  ) -> tuple[bool, bool, bool, str] | None:
    """Stage and gate one round as the workflow does, and check the staged main file in
    full. (agreed, incremental, full check passed, what differed), or None when no
    proposal passed the rules."""
    from beanagent.core import proposals as rules
    from beanagent.core.gate import gate_result
    from beanagent.files.stage import incremental_request, remove_stage, stage_items
    from beanagent.ledger.load import load_entries, to_ledger_errors
    from beanagent.ledger.view import LedgerView

    accounts = rules.known_accounts(LedgerView(parsed.entries, parsed.options),
                                    parsed.options)
    items, _ = rules.validate_all(raws, accounts, [], rules.currency_places(parsed.options))
    if not items:
        return None
    stage = stage_items(parsed, items, {i.id: target for i in items} if target else None)
    try:
        readable = (stage.root, stage.source_root, *sorted({p.parent for p in parsed.files}))
        errors, incremental = checker.check(stage.main, readable,
                                            incremental_request(parsed, stage))
        gate = gate_result(stage, baseline, errors)
        full = gate_result(stage, baseline, to_ledger_errors(load_entries(stage.main)[1]))
    finally:
        remove_stage(stage)
    same = gate.passed == full.passed and Counter(_key(e) for e in gate.errors) == \
        Counter(_key(e) for e in full.errors)
    why = "" if same else (f"gate {'passed' if gate.passed else 'failed'} "
                           f"{[str(e) for e in gate.errors]}; full check "
                           f"{'passed' if full.passed else 'failed'} "
                           f"{[str(e) for e in full.errors]}")
    return same, incremental, full.passed, why


def _write(shape: LedgerShape, folder: Path) -> Path:
    for name, text in shape.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder / "main.beancount"


def run(seed: int, ledgers: int, rounds: int, in_process: bool = False,
        keep: Path | None = None, ahead: int = 2, cached: bool = False) -> Result:
    """`ledgers` generated ledgers, `rounds` proposal sets each; one sandbox server per
    ledger, started `ahead` ledgers early (a server's start is most of a ledger's cost)."""
    from beanagent.ledger.load import complete, parse_ledger

    result = Result()
    root = Path(tempfile.mkdtemp(prefix="beanagent-differential-"))
    shapes = [make_ledger(random.Random(f"{seed}:{i}")) for i in range(ledgers)]
    mains = [_write(shape, root / f"l{i}") for i, shape in enumerate(shapes)]
    kind = InProcess if in_process else FromCache if cached else InSandbox
    started: dict[int, InProcess | InSandbox] = {}
    try:
        for i, (shape, main) in enumerate(zip(shapes, mains, strict=True)):
            for j in range(i, min(i + ahead + 1, ledgers)):
                if j not in started:
                    started[j] = kind(mains[j])
            checker = started.pop(i)
            try:
                parsed = parse_ledger(main)
                full = complete(parsed)
                rng = random.Random(f"{seed}:{i}:rounds")
                files = sorted(parsed.files)
                for r in range(rounds):
                    raws = make_round(rng, shape, full.entries, r)
                    target = rng.choice(files) if rng.random() < 0.1 else None
                    outcome = compare_round(checker, parsed, full.errors, raws, target)
                    if outcome is None:
                        continue
                    same, incremental, passed, why = outcome
                    result.tried += 1
                    result.agreed += same
                    result.incremental += incremental
                    result.local += incremental and \
                        getattr(getattr(checker, "state", None), "last_path", "") == "local"
                    result.failed += not passed
                    result.features.update(shape.features)
                    if not same:
                        result.disagreements.append(
                            f"ledger {seed}:{i} round {r}: {why}\n  proposals: {raws}")
                        if keep is not None:
                            shutil.copytree(main.parent, keep / f"l{i}-r{r}",
                                            dirs_exist_ok=True)
            finally:
                checker.close()
    finally:
        for checker in started.values():
            checker.close()
        shutil.rmtree(root, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ledgers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--plain", action="store_true",
                        help="ledgers without plugins, pads or lots (the local check's)")
    parser.add_argument("--cached", action="store_true",
                        help="servers that serve their load from the load cache")
    parser.add_argument("--keep", type=Path, help="copy the ledgers of disagreements here")
    parser.add_argument("--show", type=int, default=5, help="disagreements to print")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.plain:
        from benchmarks import gate_shapes

        gate_shapes.PLAIN = True
    if args.cached:  # a cache and its key of their own, removed with the folder
        home = Path(tempfile.mkdtemp(prefix="beanagent-differential-cache-"))
        os.environ["BEANAGENT_CACHE_DIR"] = str(home / "cache")
        os.environ["XDG_STATE_HOME"] = str(home / "state")
    try:
        result = run(args.seed, args.ledgers, args.rounds, args.in_process, args.keep,
                     cached=args.cached)
    finally:
        if args.cached:
            shutil.rmtree(home, ignore_errors=True)
    for line in result.disagreements[:args.show]:
        print(line, file=sys.stderr)
    print(f"seed {args.seed}: {args.ledgers} ledgers x {args.rounds} rounds: "
          f"{result.line()} in {time.monotonic() - started:.0f} s")
    print("features: " + ", ".join(f"{k} {v}" for k, v in sorted(result.features.items())))
    if result.tried != result.agreed:
        sys.exit(1)


if __name__ == "__main__":
    main()
