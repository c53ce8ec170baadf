"""Issue 16's targets: `reconcile --dry-run` against a cold `bean-check` of the same ledger,
on three sizes (bean-example, seed 7: common.SIZES), statement = 45 days of checking with 8
lines missing.

For each size, interleaved rounds of: bean-check; reconcile cold (`--no-cache`); reconcile
warm (the load cache primed once before the rounds, every timed run a hit). Wall time and
CPU time (user + system of the whole process tree, from RUSAGE_CHILDREN: the host, the
sandbox server and every child it reaped) per run; the figure is the ratio of medians.

Memory is measured in separate runs (sampling costs CPU): cold, warm, and once as a miss
with the cache on (the default first run: a forked child pickles the load for the cache,
touching every object of it, so its pages are copied; no target, printed to be seen).
Every 20 ms the tree of processes is walked and each one's PSS (`/proc/PID/smaps_rollup`:
shared pages divided among the processes sharing them, so a forked child's copy-on-write
pages count once) is summed; the peak of that sum is the figure. The sum of each process's
own peak RSS (VmHWM, counting shared pages in every process) is printed beside it as an
upper bound.

The floor of a repeat run: a fresh interpreter that only imports the modules every
reconcile imports (its command line, workflow, console, CSV reader, sandbox client and
offline agent; no ledger, no server), timed in the same rounds. On the small ledger it is
0.4-0.5x a cold bean-check on its own, which is why the warm target is out of reach
there (benchmarks/README.md, "One load, third pass").

With `--before BIN` (the bin folder of a venv holding an older beanagent, e.g. the commit
before issue 16), that version's `reconcile --dry-run` joins the rounds (and the memory runs)
as "before": the same ledgers, statement and machine, interleaved.

Usage: python -m benchmarks.bench_load [--before BIN] [ROUNDS] [SIZE ...]
       (default 5 rounds; small large huge)
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import ACCOUNT, BIN, ENV, SIZES, large_ledger

TARGETS = {"small": {"wall": 1.5}, "large": {"wall": 1.1, "cpu": 1.5, "memory": 2.0}}
WARM_TARGET = 0.5  # a repeat run with the cache, against a cold bean-check
FLOOR = ("import beanagent.cli, beanagent.workflow, beanagent.ui.console, "
         "beanagent.statements.csv, beanagent.sandbox.runner, beanagent.agent.offline")
# bean-check exits 1 on a ledger with errors (bean-example's oldest years have some: the
# huge ledger); reconcile warns about them and goes on.
OK = {"bean-check": (0, 1), "cold": (0,), "warm": (0,)}


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        out.setdefault(ppid, []).append(int(name))
    return out


def _tree(root: int) -> list[int]:
    children = _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _kib(path: str, field: bytes) -> int:
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """The peak summed PSS of a process tree, and each process's own peak RSS."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.peak_pss = 0
        self.hwm: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = _tree(self.root)
            self.peak_pss = max(self.peak_pss, sum(
                _kib(f"/proc/{pid}/smaps_rollup", b"Pss:") for pid in pids))
            for pid in pids:
                self.hwm[pid] = max(self.hwm.get(pid, 0), _kib(f"/proc/{pid}/status",
                                                              b"VmHWM:"))
            self.done.wait(0.02)


def run(cmd: Sequence[str | Path], env: dict[str, str], memory: bool = False,
        ok: tuple[int, ...] = (0,)) -> tuple[float, float, float, float]:
    """(wall s, CPU s, peak summed PSS MiB, summed peak RSS MiB) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    sampler = Sampler(proc.pid) if memory else None
    if sampler is not None:
        sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if sampler is not None:
        sampler.done.set()
        sampler.join()
    if proc.returncode not in ok:
        raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if sampler is None:
        return wall, cpu, 0.0, 0.0
    return wall, cpu, sampler.peak_pss / 1024, sum(sampler.hwm.values()) / 1024


def bench(size: str, rounds: int, before: Path | None = None) -> dict[str, float]:
    ledger, statement = large_ledger(name=size)
    txns = sum(1 for line in ledger.read_text().splitlines()
               if line[:1].isdigit() and " * " in line)
    home = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = {**ENV, "BEANAGENT_CACHE_DIR": str(home / "cache"),
           "XDG_STATE_HOME": str(home / "state")}
    base = [BIN / "beanagent", "reconcile", ledger, statement, "--account", ACCOUNT,
            "--dry-run"]
    cmds = {"bean-check": [BIN / "bean-check", ledger], "cold": [*base, "--no-cache"],
            "warm": base, "floor": [BIN / "python", "-c", FLOOR]}
    if before is not None:  # an older beanagent: cold too, when it has a load cache
        helped = subprocess.run([before / "beanagent", "reconcile", "--help"], env=env,
                                capture_output=True, text=True).stdout
        cmds["before"] = [before / "beanagent", *base[1:],
                          *(["--no-cache"] if "--no-cache" in helped else [])]
    try:
        run(base, env)  # primes the cache (and the page cache) for the warm runs
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
        for _ in range(rounds):
            for name, cmd in cmds.items():
                times[name].append(run(cmd, env, ok=OK.get(name, (0,)))[:2])
        mem = {name: run(cmds[name], env, memory=True, ok=OK.get(name, (0,)))[2:]
               for name in ("bean-check", "cold", "warm", *(["before"] if before else []))}
        for stale in (home / "cache").glob("*.load"):  # the next run is a miss: it keeps
            stale.unlink()
        mem["miss"] = run(base, env, memory=True)[2:]
    finally:
        shutil.rmtree(home, ignore_errors=True)

    def med(name: str, i: int) -> float:
        return statistics.median(t[i] for t in times[name])

    print(f"\n{size}: {ledger.name}, {txns:,} transactions ({SIZES[size][0]} to 2026-01-01), "
          f"{rounds} interleaved rounds")
    for name in cmds:
        print(f"  {name:10s} wall median {med(name, 0):6.3f} s (min "
              f"{min(t[0] for t in times[name]):.3f})   CPU median {med(name, 1):6.3f} s")
    ratios = {"wall": med("cold", 0) / med("bean-check", 0),
              "cpu": med("cold", 1) / med("bean-check", 1),
              "warm": med("warm", 0) / med("bean-check", 0),
              "floor": med("floor", 0) / med("bean-check", 0),
              "memory": mem["cold"][0] / mem["bean-check"][0]}
    print(f"  memory: bean-check peak PSS {mem['bean-check'][0]:.1f} MiB; reconcile peak "
          f"summed PSS {mem['cold'][0]:.1f} MiB (summed per-process peak RSS "
          f"{mem['cold'][1]:.1f} MiB)")
    print(f"  memory, no target: a warm run {mem['warm'][0]:.1f} MiB "
          f"({mem['warm'][0] / mem['bean-check'][0]:.2f} x); a first run with the cache on "
          f"(a miss: a child pickles the load for it) {mem['miss'][0]:.1f} MiB "
          f"({mem['miss'][0] / mem['bean-check'][0]:.2f} x)")
    if before is not None:
        print(f"  before: wall {med('before', 0) / med('bean-check', 0):.2f}, CPU "
              f"{med('before', 1) / med('bean-check', 1):.2f}, memory "
              f"{mem['before'][0] / mem['bean-check'][0]:.2f} x bean-check (peak summed PSS "
              f"{mem['before'][0]:.1f} MiB)")
    target = TARGETS.get(size, {})
    for key, label in (("wall", "cold wall / bean-check"), ("cpu", "cold CPU / bean-check"),
                       ("memory", "cold memory / bean-check"),
                       ("warm", "warm wall / cold bean-check"),
                       ("floor", "imports alone / bean-check")):
        limit = WARM_TARGET if key == "warm" else target.get(key)
        verdict = "" if limit is None else \
            f"  (target <= {limit}: {'met' if ratios[key] <= limit else 'NOT met'})"
        print(f"  {label:28s} {ratios[key]:.2f}{verdict}")
    return ratios


def main() -> None:
    args = sys.argv[1:]
    before = None
    if args[:1] == ["--before"]:
        before = Path(args[1])
        args = args[2:]
    rounds = int(args.pop(0)) if args and args[0].isdigit() else 5
    for size in args or list(SIZES):
        bench(size, rounds, before)


if __name__ == "__main__":
    main()
