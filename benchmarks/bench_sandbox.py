"""The fork server's costs on a ~13,000-transaction ledger (issue 3), all in one run:

1. per-step latency of `Sandbox.run` ("pass" and a one-line balance script), p50/p95,
   against a bare `python -I -S -c pass` spawn (target <= 2.5x) and against a cold
   spawn that imports beancount and loads the ledger (target: the step >= 50x faster);
2. fork-server start (start() to the first finished "pass", minus that step's own time)
   against one plain ledger load in a fresh process (target <= 1.2x);
3. peak memory: the server's VmHWM plus one child's peak RSS, against one `bean-check`.

The sandbox runs with whatever kernel layers this machine offers (printed first; a
missing layer is reported, not fatal). Usage: python -m benchmarks.bench_sandbox [RUNS]
(RUNS rounds, default 5, each with a fresh server and STEPS_PER_ROUND timed steps.)
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from beanagent.sandbox.runner import Sandbox
from benchmarks.common import ACCOUNT, BIN, ENV, large_ledger, timed

STEPS_PER_ROUND = 8
PASS = "pass"
BALANCE = f"ledger.balance({ACCOUNT!r})"
# Run in the sandbox: do some work, then report this child's peak RSS. The new Landlock
# layer may deny /proc, so getrusage (which needs no file) is the fallback.
MEMORY_SCRIPT = f"""\
ledger.balance({ACCOUNT!r})
try:
    with open('/proc/self/status') as f:
        kib = next(int(ln.split()[1]) for ln in f if ln.startswith('VmHWM:'))
    print('peak', kib, '/proc/self/status VmHWM')
except OSError as exc:
    import resource
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print('peak', kib, 'getrusage ru_maxrss (/proc denied: ' + type(exc).__name__ + ')')
import time
time.sleep(0.4)  # lets the host read this child's private memory from outside
"""
COLD_LOAD = ("import sys; from pathlib import Path; from beanagent.ledger.view import LedgerView; "
             "from beanagent.ledger.load import load_for_server; "
             "LedgerView(*load_for_server(Path(sys.argv[1]))[:2])")
PLAIN_LOAD = ("import sys; from pathlib import Path; "
              "from beanagent.ledger.load import load_entries; "
              "load_entries(Path(sys.argv[1]))")
BEAN_CHECK_RUSAGE = ("import resource, subprocess, sys; "
                     "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
                     "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
MIB = 1024.0


def pct(samples: list[float], q: int) -> float:
    """The q-th percentile (inclusive method; q=50 is the median)."""
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def step(sandbox: Sandbox, code: str) -> tuple[float, float]:
    """One script run: host wall time and the server's own figure for it."""
    start = time.perf_counter()
    result = sandbox.run(code, [])
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"sandbox step {code!r} failed: {result.error}")
    return elapsed, result.seconds


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/{pid}/status")


class ChildWatcher(threading.Thread):
    """Polls the server's children from outside and keeps the largest private memory
    (Private_Clean + Private_Dirty of smaps_rollup, KiB) seen: what the child adds on top
    of the pages it still shares with the server. None if /proc does not allow it."""

    def __init__(self, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.server_pid = server_pid
        self.stop = threading.Event()
        self.private_kib: int | None = None
        self.rss_kib: int | None = None

    def run(self) -> None:
        children = Path(f"/proc/{self.server_pid}/task/{self.server_pid}/children")
        while not self.stop.is_set():
            try:
                pids = children.read_text().split()
            except OSError:
                return
            for pid in pids:
                try:
                    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
                except OSError:
                    continue
                fields = dict(re.findall(r"^(\w+):\s+(\d+) kB", text, re.M))
                if "Rss" not in fields:  # gone between the two reads
                    continue
                private = int(fields.get("Private_Clean", 0)) + int(
                    fields.get("Private_Dirty", 0))
                self.private_kib = max(self.private_kib or 0, private)
                self.rss_kib = max(self.rss_kib or 0, int(fields["Rss"]))
            time.sleep(0.005)


def child_memory(sandbox: Sandbox) -> tuple[int, str, int | None]:
    """(child peak KiB as the child reports it, how it got it, child private KiB)."""
    assert sandbox._proc is not None
    watcher = ChildWatcher(sandbox._proc.pid)
    watcher.start()
    result = sandbox.run(MEMORY_SCRIPT, [])
    watcher.stop.set()
    watcher.join()
    match = re.search(r"^peak (\d+) (.*)$", result.output, re.M)
    if not result.ok or match is None:
        raise SystemExit(f"memory script failed: {result.error or result.output}")
    return int(match.group(1)), match.group(2), watcher.private_kib


def bean_check_memory(ledger: Path) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KiB, how) of one bean-check of the ledger."""
    time_bin = shutil.which("time", path="/usr/bin:/bin")
    if time_bin:
        start = time.perf_counter()
        proc = subprocess.run([time_bin, "-v", str(BIN / "bean-check"), str(ledger)],
                              env=ENV, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        if proc.returncode != 0 or match is None:
            raise SystemExit(f"bean-check failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        return elapsed, int(match.group(1)), "/usr/bin/time -v"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BEAN_CHECK_RUSAGE, str(BIN / "bean-check"),
                           str(ledger)], env=ENV, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, int(proc.stdout.strip()), "getrusage(RUSAGE_CHILDREN)"


def line(name: str, samples: list[float]) -> str:
    return (f"{name:<34} p50 {pct(samples, 50) * 1000:8.1f} ms  "
            f"p95 {pct(samples, 95) * 1000:8.1f} ms  (n={len(samples)})")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ledger, _ = large_ledger()
    n = sum(1 for ln in ledger.read_text().splitlines() if ln[:1].isdigit() and " * " in ln)
    print(f"ledger: {ledger.name}, {n} transactions; {runs} rounds x {STEPS_PER_ROUND} steps; "
          f"{os.cpu_count()} CPUs, kernel {os.uname().release}")
    bare_cmd = [sys.executable, "-I", "-S", "-c", "pass"]
    cold_cmd = [sys.executable, "-I", "-c", COLD_LOAD, ledger]
    plain_cmd = [sys.executable, "-I", "-c", PLAIN_LOAD, ledger]

    s: dict[str, list[float]] = {k: [] for k in (
        "pass", "pass_server", "balance", "balance_server", "bare", "cold", "start",
        "first_step", "load_seconds", "plain", "bean_check")}
    server_hwm: list[int] = []
    child_peak: list[int] = []
    child_private: list[int] = []
    bean_check_rss: list[int] = []
    child_how = bean_how = ""
    layers: dict[str, object] = {}
    missing: list[str] = []
    for _ in range(runs):
        s["plain"].append(timed(plain_cmd))

        begin = time.perf_counter()
        sandbox = Sandbox(ledger, allow_weak=True).start()
        try:
            result = sandbox.run(PASS, [])
            ready = time.perf_counter() - begin
            if not result.ok:
                raise SystemExit(f"first step failed: {result.error}")
            s["start"].append(ready - result.seconds)
            s["first_step"].append(result.seconds)
            s["load_seconds"].append(float(sandbox.load_seconds or 0))
            layers, missing = sandbox.layers, sandbox.missing_layers
            step(sandbox, BALANCE)  # warm-up of the second script (the first "pass" was one)
            for _ in range(STEPS_PER_ROUND):
                for name, code in (("pass", PASS), ("balance", BALANCE)):
                    wall, server = step(sandbox, code)
                    s[name].append(wall)
                    s[name + "_server"].append(server)
                s["bare"].append(timed(bare_cmd))
            peak, child_how, private = child_memory(sandbox)
            child_peak.append(peak)
            if private is not None:
                child_private.append(private)
            assert sandbox._proc is not None
            server_hwm.append(status_kib(sandbox._proc.pid, "VmHWM"))
        finally:
            sandbox.close()

        s["cold"].append(timed(cold_cmd))
        elapsed, rss, bean_how = bean_check_memory(ledger)
        s["bean_check"].append(elapsed)
        bean_check_rss.append(rss)

    print(f"layers: landlock ABI {layers.get('landlock_abi')}, seccomp {layers.get('seccomp')}, "
          f"namespaces {layers.get('namespaces')}; missing: {', '.join(missing) or 'none'}")

    print("\n1. Per-step latency (host wall time of Sandbox.run; server's own figure below)")
    print(f"   balance script: {BALANCE}")
    print(line('sandbox.run("pass")', s["pass"]))
    print(line("  (server side)", s["pass_server"]))
    print(line("sandbox.run(balance script)", s["balance"]))
    print(line("  (server side)", s["balance_server"]))
    print(line("bare python -I -S -c pass", s["bare"]))
    print(line("cold spawn + load_for_view", s["cold"]))
    bare = pct(s["bare"], 50)
    cold = pct(s["cold"], 50)
    for name in ("pass", "balance"):
        p50, p95 = pct(s[name], 50), pct(s[name], 95)
        print(f"  {name:<8} step / bare spawn: {p50 / bare:5.2f}x of p50s, "
              f"{p95 / pct(s['bare'], 95):5.2f}x of p95s (target <= 2.5x)")
        print(f"  {name:<8} cold load / step:  {cold / p50:6.1f}x of p50s, "
              f"{cold / p95:6.1f}x cold p50 / step p95 (target >= 50x)")

    print("\n2. Fork-server start (start() to first 'pass' done, minus that step)")
    print(line("fork-server start", s["start"]))
    print(line("  first step (server side)", s["first_step"]))
    print(line("  server's own load_seconds", s["load_seconds"]))
    print(line("plain load_entries, fresh process", s["plain"]))
    print(f"  start / plain load: {pct(s['start'], 50) / pct(s['plain'], 50):.2f}x of medians, "
          f"{min(s['start']) / min(s['plain']):.2f}x of minimums (target <= 1.2x)")

    print("\n3. Peak memory (medians over rounds)")
    server = statistics.median(server_hwm) / MIB
    child = statistics.median(child_peak) / MIB
    check = statistics.median(bean_check_rss) / MIB
    print(f"server VmHWM                  {server:7.1f} MiB")
    print(f"child peak RSS                {child:7.1f} MiB  ({child_how})")
    print(f"server + child                {server + child:7.1f} MiB")
    print(f"bean-check max RSS            {check:7.1f} MiB  ({bean_how}; "
          f"median {statistics.median(s['bean_check']):.2f} s)")
    print(f"  (server + child) / bean-check: {(server + child) / check:.2f}x")
    if child_private:
        private = statistics.median(child_private) / MIB
        print(f"child private (USS, smaps_rollup, read by the host) {private:.1f} MiB: the "
              "child's RSS counts pages it shares copy-on-write with the server;")
        print(f"  server + child private = {server + private:.1f} MiB, "
              f"{(server + private) / check:.2f}x bean-check")
    else:
        print("child private memory: /proc/<child>/smaps_rollup not readable from the host")


if __name__ == "__main__":
    main()
