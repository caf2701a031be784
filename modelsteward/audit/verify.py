"""Verification: the chain, the signed checkpoints and the sealed segments.

Checks, in one pass over the local file (hashlib and byte searches, about a microsecond per
record; large files are split across processes):

1. every line ends with ``,"hash":"<64 hex>"}`` and its body hashes to that value, and its
   ``prev_hash`` and ``seq`` (at their place in the canonical layout) are the previous
   record's hash and seq + 1. With ``strict``, every body must also be canonical JSON with
   exactly the record fields, a known action and role (sealing applies that check to every
   record it seals, and sealed records are compared byte for byte afterwards);
2. every checkpoint (local ``seals.jsonl`` and, with a bucket, every version stored under
   ``audit/checkpoints/``, delete markers notwithstanding) is signed by the ledger key, and the
   local chain has its last seq with its last hash: a local tail shorter than the last
   checkpoint is *truncated*;
3. with a bucket, each sealed segment (the exact version the checkpoint names) has the signed
   SHA-256 and equals the local bytes of its records.

The first anomaly is classified by looking at the whole file: ``changed`` (a record's bytes no
longer match its hash, or a rehashed record no longer matches its successor or a checkpoint),
``missing`` (a seq is absent), ``inserted`` (a record that does not belong, duplicates
included), ``reordered`` (a record present but out of place), ``truncated`` (records known to a
checkpoint are gone) and ``bad signature``. The report names the first bad seq.

What no hash chain can show: records appended after the last checkpoint by someone with write
access to the file, and the removal of records after the last checkpoint. Seal often.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelsteward.audit.records import GENESIS_HASH, canonical_record, check_line
from modelsteward.audit.seal import (
    CHECKPOINT_PREFIX,
    KEY_PREFIX,
    Checkpoint,
    key_id,
    parse_public_key,
    read_local_checkpoints,
    retired_key_dir,
    trusted_public_keys,
)
from modelsteward.audit.store import content_bounds
from modelsteward.errors import (
    IntegrityError,
    LedgerIntegrityError,
    NotFoundError,
    SignatureError,
    StorageError,
)

if TYPE_CHECKING:
    from modelsteward.audit.ledger import Ledger
    from modelsteward.objectstore import LockedBucket

__all__ = ["REASONS", "VerifyReport", "verify_file", "verify_ledger", "verify_lines"]

log = logging.getLogger(__name__)

REASONS = ("changed", "missing", "inserted", "reordered", "truncated", "bad signature")
_SUFFIX = b',"hash":"'


@dataclass(frozen=True)
class Problem:
    seq: int
    reason: str
    message: str


@dataclass
class VerifyReport:
    """The outcome of a verification; ``ok`` is True when nothing is wrong."""

    records: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    checkpoints: int = 0
    segments: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.seq) if self.problems else None

    @property
    def first_bad_seq(self) -> int | None:
        problem = self.first_problem
        return problem.seq if problem else None

    @property
    def reason(self) -> str | None:
        problem = self.first_problem
        return problem.reason if problem else None

    @property
    def error(self) -> LedgerIntegrityError | None:
        problem = self.first_problem
        if problem is None:
            return None
        return LedgerIntegrityError(
            f"audit ledger broken at seq {problem.seq} ({problem.reason}): {problem.message}",
            seq=problem.seq,
            reason=problem.reason,
        )

    def raise_if_broken(self) -> VerifyReport:
        """Raise :class:`LedgerIntegrityError` (first bad seq, reason) unless intact."""
        error = self.error
        if error is not None:
            raise error
        return self

    raise_for_status = raise_if_broken

    def summary(self) -> dict[str, Any]:
        """The short form a report quotes: verdict, size, last seq and hash, what was checked."""
        return {
            "ok": self.ok,
            "records": self.records,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "checkpoints_verified": self.checkpoints,
            "segments_verified": self.segments,
        }

    def to_dict(self) -> dict[str, Any]:
        problem = self.first_problem
        return {
            "ok": self.ok,
            "records": self.records,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "checkpoints_verified": self.checkpoints,
            "segments_verified": self.segments,
            "first_bad_seq": problem.seq if problem else None,
            "reason": problem.reason if problem else None,
            "message": problem.message if problem else None,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Scan:
    records: int = 0
    last_hash: str = GENESIS_HASH
    problem: Problem | None = None
    at: dict[int, tuple[int, str]] = field(default_factory=dict)  # seq -> (end offset, hash)


def _blocks(path: Path, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
    """(offset of the first line, complete lines) of bytes [start, end), about 1 MB a block."""
    with open(path, "rb") as handle:
        handle.seek(start)
        offset = start
        rest = b""
        while offset + len(rest) < end:
            chunk = handle.read(min(1 << 20, end - offset - len(rest)))
            if not chunk:
                return
            data = rest + chunk if rest else chunk
            lines = data.split(b"\n")
            rest = lines.pop()
            if lines:
                yield offset, lines
                offset += len(data) - len(rest)


def _lines_between(path: Path, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of the complete lines in bytes [start, end) of ``path``."""
    for offset, lines in _blocks(path, start, end):
        for line in lines:
            yield offset, line
            offset += len(line) + 1


def _run(
    blocks: Iterator[tuple[int, list[bytes]]],
    expected: int,
    prev: bytes,
    want: set[int],
    at: dict[int, tuple[int, str]],
    strict: bool = False,
) -> tuple[int, bytes, bytes | None, list[tuple[int, bytes]] | None]:
    """The hot loop: (next expected seq, last hash, the hash before it, lines from the first
    bad one to the end of its block, or None).

    Always: the line ends with the hash suffix, its body hashes to it, and ``prev_hash`` and
    ``seq`` (at their place in the canonical layout) continue the chain. With ``strict``,
    also: the body is canonical JSON with exactly the record fields.
    """
    sha256 = hashlib.sha256
    suffix = _SUFFIX
    before_prev: bytes | None = None
    for base, lines in blocks:
        pos = base
        for line in lines:
            n = len(line)
            digest = sha256(line[:-75] + b"}").hexdigest().encode()
            # the last ',"prev_hash":"' is the top-level one: later values hold no '"'
            i = line.rfind(b',"prev_hash":"', 0, n - 75)
            if not (
                line.startswith(suffix, n - 75)
                and line.endswith(b'"}')
                and line.startswith(digest, n - 66)
                and i > 0
                and line.startswith(prev, i + 14)
                and line.startswith(b'",', i + 78)
                and line.find(b',"seq":%d,' % expected, i + 80, n - 75) > 0
                and (not strict or canonical_record(line[:-75] + b"}") is not None)
            ):
                return expected, prev, before_prev, _from(base, lines, pos)
            if expected in want:
                at[expected] = (pos + n + 1, digest.decode())
            before_prev = prev
            prev = digest
            expected += 1
            pos += n + 1
    return expected, prev, before_prev, None


def _from(base: int, lines: list[bytes], pos: int) -> list[tuple[int, bytes]]:
    """(offset, line) of the lines of a block from the one at byte ``pos`` on."""
    out: list[tuple[int, bytes]] = []
    offset = base
    for line in lines:
        if offset >= pos:
            out.append((offset, line))
        offset += len(line) + 1
    return out


def verify_lines(
    lines: Iterable[tuple[int, bytes]], *, wanted: Iterable[int] = (), strict: bool = False
) -> _Scan:
    """Check the chain over (offset, line) pairs; stops at the first anomaly and classifies it.

    ``wanted`` seqs get their (end offset, hash) recorded, for the checkpoint checks.
    """
    return _verify_blocks(((offset, [line]) for offset, line in lines), set(wanted), strict)


def _verify_blocks(
    blocks: Iterator[tuple[int, list[bytes]]], want: set[int], strict: bool
) -> _Scan:
    scan = _Scan()
    expected, prev, before_prev, bad = _run(blocks, 1, GENESIS_HASH.encode(), want, scan.at, strict)
    scan.records = expected - 1
    scan.last_hash = prev.decode()
    if bad is not None:
        rest = bad + [item for offset, lines in blocks for item in _from(offset, lines, offset)]
        grandparent = before_prev.decode() if before_prev is not None else None
        scan.problem = _classify(rest, expected, prev.decode(), grandparent)
    return scan


def _verify_chunk(
    path: str, start: int, end: int, want: set[int], strict: bool = False
) -> tuple[int, str, int, str, bool, dict[int, tuple[int, str]]]:
    """Worker: check bytes [start, end) as a chain starting wherever its first record says.

    Returns (first seq, its prev_hash, next expected seq, last hash, ok, wanted hashes).
    """
    at: dict[int, tuple[int, str]] = {}
    blocks = _blocks(Path(path), start, end)
    try:
        base, lines = next(blocks)
        head = orjson.loads(lines[0][:-75] + b"}")
        seq, prev = int(head["seq"]), str(head["prev_hash"])
    except (StopIteration, IndexError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0, "", 0, "", False, at
    expected, last, _, bad = _run(
        itertools.chain([(base, lines)], blocks), seq, prev.encode(), want, at, strict
    )
    return seq, prev, expected, last.decode(), bad is None, at


#: Below this many bytes (about 250,000 records) one process verifies faster than several.
PARALLEL_MIN_BYTES = 96 * 1024 * 1024


def default_workers() -> int:
    """Half the cores, at most 4: a verification should not starve the services beside it
    (on a 2-core machine, one process)."""
    return max(1, min((os.cpu_count() or 1) // 2, 4))


def verify_file(
    path: Path, *, wanted: Iterable[int] = (), workers: int | None = None, strict: bool = False
) -> _Scan:
    """:func:`verify_lines` over a ledger file, split across processes when it is large.

    Each worker checks one byte range as a chain; the parent checks that the ranges join up.
    Any anomaly (or a failing worker) falls back to one sequential pass, which classifies it.
    """
    want = set(wanted)
    try:
        with open(path, "rb") as handle:
            size, _ = content_bounds(handle.fileno())  # the zeros allocated ahead are not read
    except FileNotFoundError:
        return _Scan()
    count = workers if workers is not None else default_workers()
    if count <= 1 or size < PARALLEL_MIN_BYTES:
        return _verify_blocks(_blocks(path, 0, size), want, strict)
    bounds = [0]
    with open(path, "rb") as handle:
        for i in range(1, count):
            handle.seek(size * i // count)
            handle.readline()
            bounds.append(max(handle.tell(), bounds[-1]))
    bounds.append(size)
    ranges = [(bounds[i], bounds[i + 1]) for i in range(count) if bounds[i] < bounds[i + 1]]
    try:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=len(ranges) - 1, mp_context=context) as pool:
            futures = [
                pool.submit(_verify_chunk, str(path), start, end, want, strict)
                for start, end in ranges[1:]
            ]
            first = _verify_chunk(str(path), *ranges[0], want, strict)
            results = [first, *(future.result() for future in futures)]
    except (OSError, RuntimeError, BrokenProcessPool) as err:
        log.warning("event=ledger_parallel_verify_failed error=%s fallback=sequential", err)
        return _verify_blocks(_blocks(path, 0, size), want, strict)
    joined = results[0][0] == 1 and results[0][1] == GENESIS_HASH
    for before, after in itertools.pairwise(results):
        joined = joined and before[4] and after[0] == before[2] and after[1] == before[3]
    if not (joined and results[-1][4]):
        return _verify_blocks(_blocks(path, 0, size), want, strict)
    scan = _Scan(records=results[-1][2] - 1, last_hash=results[-1][3])
    for result in results:
        scan.at.update(result[5])
    return scan


def _classify(rest: list[tuple[int, bytes]], e: int, ph: str, pph: str | None) -> Problem:
    """Name the anomaly at the head of ``rest``: seq ``e`` was expected after hash ``ph``
    (and ``ph``'s record came after hash ``pph``)."""
    infos = [check_line(line) for _, line in rest]
    head = infos[0]
    if head is None and b"\0" in rest[0][1]:
        return Problem(
            e,
            "changed",
            f"the record at seq {e} holds zero bytes: a power loss left a hole in records "
            "never acknowledged (the next append moves them to discarded.jsonl), or the file "
            "was altered",
        )
    if head is None:
        return Problem(e, "changed", f"the record at seq {e} does not match its hash or format")
    seq, prev, digest = head
    valid = [info for info in infos if info]
    referenced = {info[1] for info in valid}
    counts = Counter(info[2] for info in valid)
    counts[ph] += 1
    seq_of = {info[2]: info[0] for info in valid}
    seq_of.setdefault(ph, e - 1)
    claimants = sum(1 for info in valid if info[0] == seq)
    is_copy = counts[digest] > 1
    # genuine: a record of this chain, whatever its place. Someone links to it, or it is the
    # last line, or (when no other record claims its seq) it links to the record before it.
    # A forgery links to nothing of ours, and nothing links to it.
    genuine = (
        digest in referenced
        or len(rest) == 1
        or (claimants == 1 and seq_of.get(prev, -1) == seq - 1)
    )
    if seq == e:
        if genuine and not is_copy and e > 1:
            return Problem(
                e - 1,
                "changed",
                f"seq {e} links to a different predecessor: seq {e - 1} was replaced",
            )
        return Problem(e, "inserted", f"a record claiming seq {e} does not link to seq {e - 1}")
    if seq > e:
        if is_copy or not genuine:
            return Problem(
                e, "inserted", f"a copy or forgery of seq {seq} stands where seq {e} belongs"
            )
        if any(info and info[0] == e for info in infos[1:]):
            return Problem(
                e, "reordered", f"seq {seq} stands where seq {e} belongs; seq {e} comes later"
            )
        return Problem(e, "missing", f"seq {e} is missing: the record after seq {e - 1} is {seq}")
    if digest == ph or is_copy:
        return Problem(e, "inserted", f"a second copy of seq {seq} stands where seq {e} belongs")
    if seq == e - 1 and prev == pph and genuine and ph not in referenced:
        return Problem(
            e - 1, "inserted", f"the record at seq {e - 1} was inserted before the genuine one"
        )
    return Problem(e, "inserted", f"a record claiming seq {seq} stands where seq {e} belongs")


def _checkpoints(
    ledger: Ledger, bucket: LockedBucket | None, report: VerifyReport
) -> list[Checkpoint]:
    """Local and (with a bucket) remote checkpoints, deduplicated, ordered by last seq."""
    local = read_local_checkpoints(ledger.directory)
    found: dict[tuple[int, str], Checkpoint] = {(cp.last_seq, cp.signature): cp for cp in local}
    if bucket is not None:
        remote = _remote_checkpoints(bucket, report)
        remote_keys = {(cp.last_seq, cp.signature) for cp in remote}
        for cp in local:
            if (cp.last_seq, cp.signature) not in remote_keys:
                report.warnings.append(
                    f"checkpoint of seq {cp.first_seq}..{cp.last_seq} is recorded locally but not "
                    f"in bucket {bucket.bucket} (an embedded S3 server forgets on restart)"
                )
        for cp in remote:
            found.setdefault((cp.last_seq, cp.signature), cp)
    return sorted(found.values(), key=lambda cp: (cp.last_seq, cp.first_seq))


def _remote_checkpoints(bucket: LockedBucket, report: VerifyReport) -> list[Checkpoint]:
    """Every stored version under ``audit/checkpoints/`` (delete markers do not hide them)."""
    from botocore.exceptions import BotoCoreError, ClientError

    versions: list[tuple[str, str]] = []
    try:
        paginator = bucket.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket.bucket, Prefix=CHECKPOINT_PREFIX):
            versions.extend((v["Key"], v["VersionId"]) for v in page.get("Versions", []))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "NoSuchBucket":
            report.warnings.append(f"bucket {bucket.bucket} does not exist: nothing sealed there")
            return []
        raise StorageError(
            f"cannot list the sealed checkpoints in s3://{bucket.bucket}/{CHECKPOINT_PREFIX}: {err}"
        ) from err
    except BotoCoreError as err:
        raise StorageError(
            f"cannot list the sealed checkpoints in s3://{bucket.bucket}/{CHECKPOINT_PREFIX}: {err}"
        ) from err
    found: list[Checkpoint] = []
    for key, version in versions:
        try:
            found.append(Checkpoint.from_json(bucket.get(key, version)))
        except (SignatureError, IntegrityError) as err:
            report.problems.append(_unreadable_checkpoint(key, err))
    return found


def _unreadable_checkpoint(key: str, err: Exception) -> Problem:
    try:
        seq = int(key.rsplit("/", 1)[-1].split(".")[0])
    except ValueError:
        seq = 1
    return Problem(seq, "bad signature", f"checkpoint {key} cannot be read: {err}")


def _check_links(checkpoints: list[Checkpoint], report: VerifyReport) -> list[Problem]:
    """Each checkpoint must name the digest of the one before it and continue its seq range."""
    problems: list[Problem] = []
    previous: Checkpoint | None = None
    for cp in checkpoints:
        where = f"checkpoint of seq {cp.first_seq}..{cp.last_seq}"
        expected_first = previous.last_seq + 1 if previous else 1
        if previous is not None and cp.first_seq < expected_first:
            report.warnings.append(
                f"{where} overlaps the checkpoint of seq {previous.first_seq}..{previous.last_seq}"
                " (the range was sealed twice, e.g. after seals.jsonl was lost)"
            )
        elif cp.first_seq > expected_first:
            problems.append(
                Problem(
                    expected_first,
                    "missing",
                    f"no checkpoint covers seq {expected_first}..{cp.first_seq - 1}: a sealed "
                    "checkpoint is missing",
                )
            )
        elif cp.prev_checkpoint != (previous.digest() if previous else GENESIS_HASH):
            before = (
                f"the checkpoint of seq {previous.first_seq}..{previous.last_seq}"
                if previous
                else "the start of the ledger"
            )
            problems.append(
                Problem(
                    cp.first_seq,
                    "bad signature",
                    f"{where} does not link to {before}: a checkpoint was replaced",
                )
            )
        previous = cp
    return problems


def _vouched(checkpoints: list[Checkpoint], keys: dict[str, Any]) -> dict[int, Checkpoint]:
    """For each checkpoint, the nearest later one signed by a trusted key (by ``id``).

    Checkpoints are linked by digest (checked by :func:`_check_links`), so a trusted later
    checkpoint vouches for the content of every earlier one, whatever key signed it.
    """
    vouched: dict[int, Checkpoint] = {}
    nearest: Checkpoint | None = None
    for cp in reversed(checkpoints):
        if nearest is not None:
            vouched[id(cp)] = nearest
        if cp.key_id in keys:
            nearest = cp
    return vouched


def _published_key(bucket: LockedBucket | None, kid: str, report: VerifyReport) -> Any:
    """The public key ``kid`` as published in the bucket, or None."""
    if bucket is None:
        return None
    name = KEY_PREFIX + kid + ".pem"
    try:
        public = parse_public_key(bucket.get(name), f"s3://{bucket.bucket}/{name}")
    except NotFoundError:
        return None
    except (SignatureError, IntegrityError, StorageError) as err:
        report.warnings.append(f"public key {kid} is not readable in the bucket: {err}")
        return None
    return public if key_id(public) == kid else None


def _check_signature(
    cp: Checkpoint,
    keys: dict[str, Any],
    voucher: Checkpoint | None,
    ledger: Ledger,
    bucket: LockedBucket | None,
    report: VerifyReport,
) -> Problem | None:
    """The checkpoint's signature, by the key it names, and why that key is trusted."""
    where = f"checkpoint of seq {cp.first_seq}..{cp.last_seq}"
    if not keys:
        return Problem(
            cp.first_seq,
            "bad signature",
            f"{where} cannot be checked: the signing key {ledger.key_path} is missing",
        )
    public = keys.get(cp.key_id)
    if public is None and voucher is not None:
        public = _published_key(bucket, cp.key_id, report)
        if public is None:
            report.warnings.append(
                f"{where} is signed by key {cp.key_id}, whose public key is not at hand; it is "
                f"trusted through the checkpoint chain up to seq {voucher.last_seq}, signed by "
                f"trusted key {voucher.key_id}"
            )
            return None
    if public is None:
        return Problem(
            cp.first_seq,
            "bad signature",
            f"{where} is signed by key {cp.key_id}, which is neither the current key nor a "
            f"retired one in {retired_key_dir(ledger.key_path)}, and no checkpoint signed by a "
            "trusted key follows it",
        )
    if not cp.signature_ok(public):
        return Problem(cp.first_seq, "bad signature", f"{where} is not signed by key {cp.key_id}")
    return None


def _check_checkpoint(
    cp: Checkpoint,
    scan: _Scan,
    ledger: Ledger,
    bucket: LockedBucket | None,
    report: VerifyReport,
) -> Problem | None:
    where = f"checkpoint of seq {cp.first_seq}..{cp.last_seq}"
    if cp.last_seq > scan.records and scan.problem is None:
        return Problem(
            scan.records + 1,
            "truncated",
            f"{where} was sealed but the local ledger ends at seq {scan.records}",
        )
    local = scan.at.get(cp.last_seq)
    if local is not None and local[1] != cp.last_hash:
        sealed = _segment(cp, bucket, report) if bucket is not None else None
        seq = _first_difference(cp, sealed, ledger) if sealed is not None else cp.first_seq
        return Problem(seq, "changed", f"the local records differ from the sealed {where}")
    if bucket is not None and local is not None:
        sealed = _segment(cp, bucket, report)
        if sealed is None:
            return None
        if hashlib.sha256(sealed).hexdigest() != cp.segment_sha256:
            return Problem(
                cp.first_seq, "changed", f"the sealed segment {cp.segment_key} has another SHA-256"
            )
        if _local_bytes(ledger, cp) != sealed:
            return Problem(
                _first_difference(cp, sealed, ledger),
                "changed",
                f"the local records differ from the sealed segment {cp.segment_key}",
            )
        report.segments += 1
    return None


def _segment(cp: Checkpoint, bucket: LockedBucket | None, report: VerifyReport) -> bytes | None:
    if bucket is None:
        return None
    try:
        return bucket.get(cp.segment_key, cp.segment_version_id)
    except NotFoundError:
        report.warnings.append(
            f"sealed segment {cp.segment_key} (version {cp.segment_version_id}) is not in "
            f"bucket {bucket.bucket}"
        )
        return None


def _local_bytes(ledger: Ledger, cp: Checkpoint) -> bytes:
    with open(ledger.path, "rb") as handle:
        handle.seek(cp.start_offset)
        return handle.read(cp.end_offset - cp.start_offset)


def _first_difference(cp: Checkpoint, sealed: bytes, ledger: Ledger) -> int:
    """The seq of the first local record that differs from the sealed segment."""
    sealed_lines = sealed.split(b"\n")
    local: dict[int, bytes] = {}
    for _, line in ledger.store.lines():
        info = check_line(line)
        if info and cp.first_seq <= info[0] <= cp.last_seq:
            local.setdefault(info[0], line)
    for index, line in enumerate(sealed_lines[: cp.last_seq - cp.first_seq + 1]):
        seq = cp.first_seq + index
        if local.get(seq) != line:
            return seq
    return cp.first_seq


def verify_ledger(
    ledger: Ledger,
    bucket: LockedBucket | None = None,
    *,
    workers: int | None = None,
    strict: bool = False,
) -> VerifyReport:
    """Verify ``ledger`` (and, with ``bucket``, what was sealed into it).

    ``workers``: processes for the chain check of a large ledger (default: half the cores,
    at most 4).
    ``strict``: also check that every record is canonical JSON with exactly the record fields
    (sealing checks that of every record it seals; a sealed record is byte-compared after).
    """
    started = time.perf_counter()
    report = VerifyReport()
    checkpoints = _checkpoints(ledger, bucket, report)
    wanted = {cp.last_seq for cp in checkpoints}
    scan = verify_file(ledger.path, wanted=wanted, workers=workers, strict=strict)
    report.records = report.last_seq = scan.records
    report.last_hash = scan.last_hash
    if scan.problem:
        report.problems.append(scan.problem)
    tail = ledger.store.partial_tail()
    if tail and scan.problem is None:
        idx = tail.rfind(_SUFFIX)
        if idx >= 0 and len(tail) - idx >= 75:
            report.problems.append(
                Problem(
                    scan.records + 1,
                    "changed",
                    "the last line is a complete record without its newline",
                )
            )
        else:
            report.warnings.append(
                f"a partial record ({len(tail)} bytes) after seq {scan.records} was left by a "
                "crash during an append; the next append discards it"
            )
    keys = trusted_public_keys(ledger.key_path) if checkpoints else {}
    report.problems.extend(_check_links(checkpoints, report))
    vouched = _vouched(checkpoints, keys)
    for cp in checkpoints:
        problem = _check_signature(cp, keys, vouched.get(id(cp)), ledger, bucket, report)
        problem = problem or _check_checkpoint(cp, scan, ledger, bucket, report)
        if problem:
            report.problems.append(problem)
        elif cp.last_seq in scan.at:  # signed, and the local chain reaches it with its hash
            report.checkpoints += 1
    report.seconds = time.perf_counter() - started
    problem = report.first_problem
    if problem is None:
        log.info(
            "event=ledger_verified records=%d checkpoints=%d", report.records, report.checkpoints
        )
    else:
        log.info("event=ledger_broken seq=%d reason=%s", problem.seq, problem.reason)
    return report
