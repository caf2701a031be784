"""``python -m benchmarks`` (``make bench``): every benchmark, one after another.

Each prints its figures beside a baseline measured in the same run; none fails on noise.
Run one alone with ``python -m benchmarks.bench_<name> --help`` for its options.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "bench_ledger",
    "bench_guard",
    "bench_signing",
    "bench_artifacts",
    "bench_drift",
    "bench_alerts",
)


def main() -> None:
    wanted = sys.argv[1:] or list(BENCHMARKS)
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        sys.argv = [f"benchmarks.{name}"]
        module.main()


if __name__ == "__main__":
    main()
