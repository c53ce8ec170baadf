"""`beanagent --help` wall time (target <= 0.3 s), next to a bare interpreter start.

Usage: python benchmarks/bench_help.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys

from benchmarks.common import BIN, interleaved, summary


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    samples = interleaved(runs, python=[sys.executable, "-c", "pass"],
                          help=[BIN / "beanagent", "--help"])
    print(f"python -c pass     {summary(samples['python'])}")
    print(f"beanagent --help   {summary(samples['help'])}")
    median = statistics.median(samples["help"])
    print(f"beanagent --help median {median:.3f} s (target <= 0.3 s); "
          f"{median / statistics.median(samples['python']):.1f}x a bare interpreter")


if __name__ == "__main__":
    main()
