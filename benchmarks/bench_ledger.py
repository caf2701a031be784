"""Audit ledger benchmark: durable appends (one writer, 8 processes, 8 threads) and verification.

Run: ``.venv/bin/python -m benchmarks.bench_ledger [--records N] [--verify-records N]``

Every figure is printed beside a floor measured in the same run on the same disk:

- appends: plain JSON Lines with ``write`` + ``fdatasync`` per record (what one durable record
  costs without any ledger logic: the floor the issue names), the same ``pwrite`` +
  ``fdatasync`` into space allocated ahead (the ledger's own I/O pattern, see
  ``modelsteward/audit/store.py``), and one ``fdatasync`` per 100 records;
- verification: SHA-256 alone over the same record bodies, read from the same file.

The machine is shared (2 cores, other jobs running): figures move between runs; compare the
ratios. Nothing here fails on noise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from modelsteward.audit import Ledger
from modelsteward.audit.records import GENESIS_HASH, Draft, body_of_line
from modelsteward.audit.store import LocalStore
from modelsteward.audit.verify import default_workers, verify_file

TARGET_APPENDS = 5_000
TARGET_VERIFY_SECONDS = 3.0
_DETAILS = {"reason": "drift above threshold", "score": 0.4312, "columns": ["amount", "hour"]}


def _draft(i: int) -> Draft:
    return Draft.build(
        action="drift.evaluated",
        actor="system",
        role="system",
        model="fraud-detector",
        version="7",
        details={**_DETAILS, "i": i},
    )


def _line_size() -> int:
    line, _ = _draft(0).seal(seq=1, ts="2026-01-01T00:00:00.000000Z", prev_hash=GENESIS_HASH)
    return len(line)


def floor_fsync_per_record(directory: Path, count: int) -> float:
    line = b"x" * (_line_size() - 1) + b"\n"
    path = directory / "floor.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    started = time.perf_counter()
    for _ in range(count):
        os.write(fd, line)
        os.fdatasync(fd)
    elapsed = time.perf_counter() - started
    os.close(fd)
    path.unlink()
    return count / elapsed


def floor_fsync_in_place(directory: Path, count: int) -> float:
    """``pwrite`` + ``fdatasync`` per record into space allocated ahead: no size change."""
    line = b"x" * (_line_size() - 1) + b"\n"
    path = directory / "floor-in-place.jsonl"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is not None:
        allocate(fd, 0, count * len(line))
    offset = 0
    started = time.perf_counter()
    for _ in range(count):
        os.pwrite(fd, line, offset)
        offset += len(line)
        os.fdatasync(fd)
    elapsed = time.perf_counter() - started
    os.close(fd)
    path.unlink()
    return count / elapsed


def floor_group_commit(directory: Path, count: int, batch: int = 100) -> float:
    line = b"x" * (_line_size() - 1) + b"\n"
    path = directory / "floor-batch.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    started = time.perf_counter()
    for i in range(count):
        os.write(fd, line)
        if i % batch == batch - 1:
            os.fdatasync(fd)
    os.fdatasync(fd)
    elapsed = time.perf_counter() - started
    os.close(fd)
    path.unlink()
    return count / elapsed


def ledger_single_writer(directory: Path, count: int) -> float:
    ledger = Ledger(directory / "single")
    ledger.append(action="model.enabled", actor="warm-up", role="system")
    started = time.perf_counter()
    for i in range(count):
        ledger.append(
            action="drift.evaluated",
            actor="system",
            role="system",
            model="fraud-detector",
            version="7",
            details={**_DETAILS, "i": i},
        )
    elapsed = time.perf_counter() - started
    assert ledger.verify().ok
    return count / elapsed


_WRITER = textwrap.dedent(
    """
    import sys, time
    from modelsteward.audit import Ledger
    ledger = Ledger(sys.argv[1])
    count = int(sys.argv[2])
    ledger.append(action="model.enabled", actor="warm-up", role="system")
    start_at = float(sys.argv[3])
    while time.time() < start_at:
        time.sleep(0.001)
    started = time.perf_counter()
    for i in range(count):
        ledger.append(action="drift.evaluated", actor="system", role="system",
                      model="fraud-detector", version="7", details={"i": i})
    print(time.perf_counter() - started)
    """
)


def ledger_processes(directory: Path, writers: int, count: int) -> tuple[float, float]:
    """Total appends/s of ``writers`` processes, and the slowest writer's own rate."""
    target = directory / "processes"
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), str(count), str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(writers)
    ]
    durations = [float(p.communicate()[0].strip()) for p in procs]
    ledger = Ledger(target)
    report = ledger.verify()
    assert report.ok and report.records == writers * (count + 1), report.to_dict()
    slowest = max(durations)
    return writers * count / slowest, count / slowest


def ledger_threads(directory: Path, threads: int, count: int) -> float:
    ledger = Ledger(directory / "threads")
    ledger.append(action="model.enabled", actor="warm-up", role="system")
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for i in range(count):
            ledger.append(action="alert.sent", actor="system", role="system", details={"i": i})

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    assert ledger.verify().ok
    return threads * count / elapsed


def build_ledger(directory: Path, count: int) -> LocalStore:
    """A ``count``-record ledger written directly (no fsync per record: it is a fixture)."""
    store = LocalStore(directory / "verify")
    store.directory.mkdir(parents=True, exist_ok=True)
    prev = GENESIS_HASH
    with open(store.path, "wb", buffering=1 << 20) as out:
        for seq in range(1, count + 1):
            draft = _draft(seq)
            ts = (
                f"2026-01-01T{(seq // 3600) % 24:02d}:{(seq // 60) % 60:02d}:{seq % 60:02d}.000000Z"
            )
            line, prev = draft.seal(seq=seq, ts=ts, prev_hash=prev)
            out.write(line)
    return store


def verify_seconds(store: LocalStore, *, workers: int = 1, strict: bool = False) -> float:
    started = time.perf_counter()
    scan = verify_file(store.path, workers=workers, strict=strict)
    elapsed = time.perf_counter() - started
    assert scan.problem is None
    return elapsed


def sha_floor_seconds(store: LocalStore) -> float:
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for _, line in store.lines():
        sha256(body_of_line(line)).hexdigest()
    return time.perf_counter() - started


def _row(label: str, value: str, baseline: str, ratio: str) -> None:
    print(f"  {label:<46} {value:>14}   {baseline:<36} {ratio}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000, help="appends per measurement")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writer processes")
    parser.add_argument("--verify-records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved append rounds")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: ./.bench)")
    args = parser.parse_args(argv)
    base = args.dir or Path(".bench")
    base.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(
        f"audit ledger benchmark  python {sys.version.split()[0]}  cores {os.cpu_count()}  "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (shared machine: figures are noisy)"
    )
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        directory = Path(tmp)
        n = args.records
        per_writer = max(n // args.writers, 250)
        print(
            "\nDurable appends (each on disk before the call returns); best of "
            f"{args.rounds} interleaved rounds, floor re-measured beside each figure:"
        )
        floors: list[float] = []
        in_place: list[float] = []
        singles: list[float] = []
        totals: list[tuple[float, float]] = []
        threads: list[float] = []
        for round_ in range(args.rounds):
            in_place.append(floor_fsync_in_place(directory, n))
            floors.append(floor_fsync_per_record(directory, n))
            singles.append(ledger_single_writer(directory / f"r{round_}", n))
            floors.append(floor_fsync_per_record(directory, n))
            totals.append(ledger_processes(directory / f"r{round_}", args.writers, per_writer))
            floors.append(floor_fsync_per_record(directory, n))
            threads.append(ledger_threads(directory / f"r{round_}", args.writers, per_writer))
        floor_batch = floor_group_commit(directory, n * 5)
        # each figure against the floor measured just before it: robust to load swings
        paired_single = statistics.median(singles[r] / floors[3 * r] for r in range(args.rounds))
        paired_in_place = statistics.median(singles[r] / in_place[r] for r in range(args.rounds))
        in_place_best = max(in_place)
        paired_total = statistics.median(
            totals[r][0] / floors[3 * r + 1] for r in range(args.rounds)
        )
        floor_best = max(floors)
        single = max(singles)
        total, each = max(totals)
        thread_best = max(threads)
        spread = f"(floor ranged {min(floors):,.0f}..{floor_best:,.0f}/s)"
        _row("floor: write+fdatasync per record", f"{floor_best:,.0f}/s", spread, "")
        _row(
            "floor: pwrite+fdatasync into allocated space",
            f"{in_place_best:,.0f}/s",
            f"(ranged {min(in_place):,.0f}..{in_place_best:,.0f}/s)",
            f"x{in_place_best / floor_best:.2f} of the write+fdatasync floor",
        )
        _row("floor: one fdatasync per 100 records", f"{floor_batch:,.0f}/s", "", "")
        _row(
            "ledger, 1 writer",
            f"{single:,.0f}/s",
            f"floor {floor_best:,.0f}/s",
            f"x{single / floor_best:.2f} of floor (paired median x{paired_single:.2f}); "
            f"x{single / TARGET_APPENDS:.2f} of the {TARGET_APPENDS:,}/s target",
        )
        _row(
            "",
            "",
            f"in place {in_place_best:,.0f}/s",
            f"x{single / in_place_best:.2f} of the in-place floor "
            f"(paired median x{paired_in_place:.2f})",
        )
        _row(
            f"ledger, {args.writers} processes (total)",
            f"{total:,.0f}/s",
            f"floor {floor_best:,.0f}/s ({each:,.0f}/s each)",
            f"x{total / floor_best:.2f} of floor (paired median x{paired_total:.2f}); "
            f"x{total / TARGET_APPENDS:.2f} of the {TARGET_APPENDS:,}/s target",
        )
        _row(
            f"ledger, {args.writers} threads in 1 process (total)",
            f"{thread_best:,.0f}/s",
            f"floor {floor_best:,.0f}/s",
            f"x{thread_best / floor_best:.2f} of floor",
        )

        print(f"\nVerification of {args.verify_records:,} records:")
        started = time.perf_counter()
        store = build_ledger(directory, args.verify_records)
        size_mb = store.records_end() / 1e6
        print(f"  (built a {size_mb:,.0f} MB ledger in {time.perf_counter() - started:.1f}s)")
        sha = sha_floor_seconds(store)
        verify = verify_seconds(store)
        strict = verify_seconds(store, strict=True)
        cores = os.cpu_count() or 1
        parallel = verify_seconds(store, workers=min(cores, 4)) if cores > 1 else None
        default = default_workers()
        sha_after = sha_floor_seconds(store)
        sha_best = min(sha, sha_after)
        budget = TARGET_VERIFY_SECONDS
        _row(
            "floor: read + SHA-256 of every body",
            f"{sha_best:.2f}s",
            f"(before {sha:.2f}, after {sha_after:.2f})",
            "",
        )
        _row(
            f"ledger verify, 1 process{' (the default here)' if default == 1 else ''}",
            f"{verify:.2f}s",
            f"floor {sha_best:.2f}s",
            f"x{verify / sha_best:.2f} of floor; {verify / budget:.0%} of the {budget:.0f}s budget",
        )
        _row(
            "ledger verify --strict, 1 process (+ canonical)",
            f"{strict:.2f}s",
            f"floor {sha_best:.2f}s",
            f"x{strict / sha_best:.2f} of floor; {strict / budget:.0%} of the {budget:.0f}s budget",
        )
        if parallel is not None:
            _row(
                f"ledger verify, {min(cores, 4)} processes",
                f"{parallel:.2f}s",
                f"floor {sha_best:.2f}s (1 process)",
                f"x{parallel / sha_best:.2f} of floor; "
                f"{parallel / budget:.0%} of the {budget:.0f}s budget",
            )


if __name__ == "__main__":
    main()
