"""Artifact transfer benchmark: memory and speed of streamed uploads and downloads.

Run: ``.venv/bin/python -m benchmarks.bench_artifacts [--mib N]``

One file of N MiB goes to the embedded S3 server (moto, on loopback) and back, twice:

- baseline: the whole file read into memory, one ``put_object``, one ``get_object().read()``;
- streamed: :meth:`LockedBucket.put_file` (multipart, 16 MiB parts, SHA-256 on the way) and
  :meth:`LockedBucket.get_to_file` (1 MiB chunks, verified, then renamed into place).

Memory is the peak of Python allocations in this process (``tracemalloc``): what a flow run
needs on top of its baseline. Both transfers are checked to round-trip the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelsteward.objectstore import PART_SIZE, LockedBucket, file_sha256

MIB = 1024 * 1024


def _measure(work: Callable[[], Any]) -> tuple[float, float, Any]:
    """(seconds, peak MiB allocated, result) of ``work``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / MIB, result


def _write_file(path: Path, mib: int) -> str:
    sha = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(mib):
            chunk = os.urandom(MIB)
            sha.update(chunk)
            out.write(chunk)
    return sha.hexdigest()


def _row(label: str, value: str, baseline: str, ratio: str) -> None:
    print(f"  {label:<34} {value:>22}   {baseline:<26} {ratio}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=128, help="size of the file in MiB")
    args = parser.parse_args(argv)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["STEWARD_HOME"] = str(home / "home")
        os.environ.pop("STEWARD_S3_BUCKET", None)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        from modelsteward.embedded import runtime
        from modelsteward.settings import load_settings

        source = home / "weights.bin"
        digest = _write_file(source, args.mib)
        size_mb = args.mib * MIB / 1e6
        print(
            f"artifact transfer benchmark  python {sys.version.split()[0]}  cores "
            f"{os.cpu_count()}  file {args.mib} MiB  part {PART_SIZE // MIB} MiB  "
            "(embedded moto S3 on loopback)"
        )
        with runtime(load_settings()) as settings:
            bucket = LockedBucket.from_settings(settings).ensure()
            whole_up = _measure(lambda: bucket.put("bench/whole.bin", source.read_bytes()))
            streamed_up = _measure(
                lambda: bucket.put_file("bench/streamed.bin", source, expected_sha256=digest)
            )
            whole_down = _measure(
                lambda: (home / "whole.out").write_bytes(
                    bucket.get("bench/whole.bin", whole_up[2].version_id)
                )
            )
            streamed_down = _measure(
                lambda: bucket.get_to_file(
                    "bench/streamed.bin", streamed_up[2].version_id, home / "streamed.out"
                )
            )
        for out in ("whole.out", "streamed.out"):
            if file_sha256(home / out) != digest:
                raise SystemExit(f"{out} does not round-trip the source file")
    print("\nPeak Python memory during the transfer (lower is better):")
    for label, whole, streamed in (
        ("upload", whole_up, streamed_up),
        ("download", whole_down, streamed_down),
    ):
        _row(
            f"streamed {label}",
            f"{streamed[1]:,.1f} MiB",
            f"whole file: {whole[1]:,.1f} MiB",
            f"x{streamed[1] / whole[1]:.2f} of the baseline",
        )
    print("\nThroughput (higher is better):")
    for label, whole, streamed in (
        ("upload", whole_up, streamed_up),
        ("download", whole_down, streamed_down),
    ):
        _row(
            f"streamed {label}",
            f"{size_mb / streamed[0]:,.0f} MB/s",
            f"whole file: {size_mb / whole[0]:,.0f} MB/s",
            f"x{whole[0] / streamed[0]:.2f} of the baseline",
        )


if __name__ == "__main__":
    main()
