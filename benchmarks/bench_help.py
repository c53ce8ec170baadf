"""`beanagent --help` wall time (target <= 0.3 s), next to a bare interpreter start; and
`beanagent reconcile --help` against `python -c "import typer"` (issue 16: within 1.5x).

Usage: python benchmarks/bench_help.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys

from benchmarks.common import BIN, interleaved, summary


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    samples = interleaved(runs, python=[sys.executable, "-c", "pass"],
                          typer=[sys.executable, "-c", "import typer"],
                          help=[BIN / "beanagent", "--help"],
                          reconcile=[BIN / "beanagent", "reconcile", "--help"])
    print(f"python -c pass     {summary(samples['python'])}")
    print(f"beanagent --help   {summary(samples['help'])}")
    print(f"import typer       {summary(samples['typer'])}")
    print(f"reconcile --help   {summary(samples['reconcile'])}")
    median = statistics.median(samples["help"])
    print(f"beanagent --help median {median:.3f} s (target <= 0.3 s); "
          f"{median / statistics.median(samples['python']):.1f}x a bare interpreter")
    ratio = statistics.median(samples["reconcile"]) / statistics.median(samples["typer"])
    print(f"beanagent reconcile --help / import typer: {ratio:.2f} of medians "
          "(target <= 1.5)")


if __name__ == "__main__":
    main()
