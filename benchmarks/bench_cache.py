"""The load cache on a repeat run: `reconcile --dry-run` with a warm cache and with
`--no-cache`, against a cold `bean-check` of the same ~13,000-transaction ledger.

Interleaved in one run; the ratios of medians are the figures. The cache serves the host's
full load only (the sandbox server and the gate's check still load what they load), so
the gain is part of one load out of about three (issue 16).
Usage: python benchmarks/bench_cache.py [RUNS]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import ACCOUNT, BIN, bench_env, large_ledger, summary

CPU: dict[str, list[float]] = {}  # CPU seconds (user + system, every process) by command


def timed(cmd: Sequence[str | Path], env: dict[str, str], name: str = "") -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    CPU.setdefault(name, []).append(after.ru_utime + after.ru_stime
                                    - before.ru_utime - before.ru_stime)
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ledger, statement = large_ledger()
    home = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    env = {**bench_env(), "BEANAGENT_CACHE_DIR": str(home / "cache"),
           "XDG_STATE_HOME": str(home / "state"), "BEANAGENT_AUDIT_LOG": "off"}
    reconcile: list[str | Path] = [BIN / "beanagent", "reconcile", ledger, statement,
                                   "--account", ACCOUNT, "--dry-run"]
    cmds: dict[str, list[str | Path]] = {"bean_check": [BIN / "bean-check", ledger],
                                         "warm": reconcile,
                                         "no_cache": [*reconcile, "--no-cache"]}
    try:
        timed(reconcile, env)  # fills the cache
        print(f"ledger: {ledger.name}; cache file: "
              f"{sum(f.stat().st_size for f in (home / 'cache').iterdir()) / 2**20:.1f} MiB")
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(runs):
            for name, cmd in cmds.items():
                samples[name].append(timed(cmd, env, name))
    finally:
        shutil.rmtree(home)
    for name in cmds:
        print(f"{name:11} {summary(samples[name])}  CPU median "
              f"{statistics.median(CPU[name]):.2f} s")
    base = statistics.median(samples["bean_check"])
    warm, cold = (statistics.median(samples[n]) for n in ("warm", "no_cache"))
    print(f"ratio warm cache / bean-check: {warm / base:.2f}; --no-cache / bean-check: "
          f"{cold / base:.2f}; warm / --no-cache: {warm / cold:.2f} (medians; "
          f"{os.cpu_count()} CPUs)")
    cpu = {name: statistics.median(CPU[name]) for name in cmds}
    print(f"CPU ratio warm / bean-check: {cpu['warm'] / cpu['bean_check']:.2f}; --no-cache / "
          f"bean-check: {cpu['no_cache'] / cpu['bean_check']:.2f}")


if __name__ == "__main__":
    main()
