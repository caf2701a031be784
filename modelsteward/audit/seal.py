"""Sealing: closed segments of the ledger into S3 Object Lock, each with a signed checkpoint.

A *segment* is a run of consecutive records, exactly the bytes of their lines in the local file.
A segment is closed when it holds ``audit_segment_max_records`` records, or when its first record
is older than ``audit_segment_max_age_seconds`` (or when sealing is forced). For each closed
segment the sealer stores, under COMPLIANCE retention:

- ``audit/segments/<first seq>-<last seq>.jsonl``: the segment's bytes;
- ``audit/checkpoints/<last seq>.json``: ``{"checkpoint": {...}, "signature": "<base64>"}`` where
  the checkpoint names the first and last seq, the last hash, the segment's key, version id and
  SHA-256, the time, the previous checkpoint's digest and the signing key's id, and the
  signature is Ed25519 over the canonical JSON of the checkpoint.

The checkpoint is also appended to ``seals.jsonl`` in the ledger directory, so the local tail
can be checked against it even offline.

**Key rotation.** Each checkpoint names the previous one's digest, so a checkpoint signed by a
trusted key vouches for every checkpoint before it. :meth:`Sealer.rotate_key` seals what is
pending under the old key, keeps the old public key beside the new one
(``<key dir>/retired/<key id>.pub.pem``; the old private key is destroyed), records
``ledger.key_rotated`` and seals again under the new key, whose first checkpoint links to the
old key's last. Every public key is also published under ``audit/keys/`` in the bucket.

Sealing never blocks appends: it runs separately (under
its own lock), and when S3 is down it raises :class:`~modelsteward.errors.StorageError` having
recorded nothing for the failed segment, so the next run seals it again; nothing is lost.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelsteward.audit.records import (
    GENESIS_HASH,
    AuditAction,
    canonical_json,
    check_line,
    format_ts,
    parse_ts,
    record_hash,
)
from modelsteward.errors import LedgerIntegrityError, NotFoundError, SignatureError, StorageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from modelsteward.audit.ledger import Ledger
    from modelsteward.objectstore import LockedBucket

__all__ = [
    "CHECKPOINT_PREFIX",
    "SEGMENT_PREFIX",
    "Checkpoint",
    "KeyRotation",
    "SealReport",
    "Sealer",
    "key_id",
    "load_or_create_key",
    "load_public_key",
    "parse_public_key",
    "read_local_checkpoints",
    "retired_key_dir",
    "trusted_public_keys",
]

log = logging.getLogger(__name__)

PREFIX = "audit/"
SEGMENT_PREFIX = PREFIX + "segments/"
CHECKPOINT_PREFIX = PREFIX + "checkpoints/"
KEY_PREFIX = PREFIX + "keys/"
CHECKPOINT_KIND = "modelsteward.audit.checkpoint/v1"


# --- keys -------------------------------------------------------------------------------------
def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 signing key at ``path``; generated (mode 0600) when the file is missing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it a moment ago: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            log.info("event=audit_key_created path=%s key_id=%s", path, key_id(key.public_key()))
            return key
    return load_ed25519_key(path, name="ledger signing key", hint="STEWARD_AUDIT_SIGNING_KEY")


def load_ed25519_key(path: Path, *, name: str, hint: str) -> Ed25519PrivateKey:
    """The unencrypted Ed25519 PEM key at ``path``; SignatureError naming ``name`` otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise SignatureError(
            f"cannot load the {name} {path}: {err}; expected an unencrypted Ed25519 PEM key "
            f"({hint})"
        ) from err
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SignatureError(f"{name} {path} is a {type(loaded).__name__}, expected Ed25519")
    return loaded


def _write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write ``key`` to ``path`` atomically (mode 0600), replacing what was there."""
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomically(path, pem, mode=0o600)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def parse_public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM, or :class:`SignatureError` naming ``where``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        loaded = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as err:
        raise SignatureError(f"cannot read the public key {where}: {err}") from err
    if not isinstance(loaded, Ed25519PublicKey):
        raise SignatureError(f"public key {where} is a {type(loaded).__name__}, expected Ed25519")
    return loaded


def retired_key_dir(key_path: Path) -> Path:
    """Where the public halves of earlier signing keys are kept, beside the current key."""
    return key_path.parent / "retired"


def trusted_public_keys(key_path: Path) -> dict[str, Ed25519PublicKey]:
    """The current signing key's public half and every retired one kept beside it, by key id.

    A retired key file whose name does not match its key id is refused: it was not written
    by :meth:`Sealer.rotate_key`.
    """
    keys: dict[str, Ed25519PublicKey] = {}
    current = load_public_key(key_path)
    if current is not None:
        keys[key_id(current)] = current
    directory = retired_key_dir(key_path)
    if directory.is_dir():
        for path in sorted(directory.glob("*.pub.pem")):
            public = parse_public_key(path.read_bytes(), str(path))
            kid = key_id(public)
            if path.name != f"{kid}.pub.pem":
                raise SignatureError(
                    f"retired key {path} holds key {kid}; expected the file to be named "
                    f"{kid}.pub.pem"
                )
            keys.setdefault(kid, public)
    return keys


def load_public_key(path: Path) -> Ed25519PublicKey | None:
    """The public half of the signing key at ``path``, or None when there is no key file."""
    if not path.exists():
        return None
    return load_or_create_key(path).public_key()


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# --- checkpoints ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: records ``first_seq..last_seq`` end with ``last_hash``."""

    first_seq: int
    last_seq: int
    last_hash: str
    start_offset: int
    end_offset: int
    segment_key: str
    segment_version_id: str
    segment_sha256: str
    sealed_at: str
    prev_checkpoint: str
    key_id: str
    signature: str = ""
    kind: str = CHECKPOINT_KIND

    def body(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("signature")
        return data

    def digest(self) -> str:
        return record_hash(canonical_json(self.body()))

    def to_json(self) -> bytes:
        return canonical_json({"checkpoint": self.body(), "signature": self.signature})

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        try:
            data = orjson.loads(raw)
            return cls(**data["checkpoint"], signature=data["signature"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as err:
            raise SignatureError(f"malformed ledger checkpoint: {err}") from err

    def signed(self, key: Ed25519PrivateKey) -> Checkpoint:
        signature = base64.b64encode(key.sign(canonical_json(self.body()))).decode()
        return Checkpoint(**{**self.body(), "signature": signature})

    def signature_ok(self, public_key: Ed25519PublicKey) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            public_key.verify(base64.b64decode(self.signature), canonical_json(self.body()))
        except (InvalidSignature, ValueError):
            return False
        return True


def read_local_checkpoints(directory: Path) -> list[Checkpoint]:
    """The checkpoints recorded in ``seals.jsonl``, in order (unreadable lines skipped)."""
    path = directory / "seals.jsonl"
    if not path.exists():
        return []
    found: list[Checkpoint] = []
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        try:
            found.append(Checkpoint.from_json(raw))
        except SignatureError:
            log.warning("event=ledger_local_checkpoint_unreadable path=%s", path)
    return found


@dataclass
class SealReport:
    """What one sealing run stored."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    pending_records: int = 0
    sealed_through: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sealed": [
                {
                    "first_seq": cp.first_seq,
                    "last_seq": cp.last_seq,
                    "segment": cp.segment_key,
                    "version_id": cp.segment_version_id,
                    "checkpoint": CHECKPOINT_PREFIX + f"{cp.last_seq:012d}.json",
                }
                for cp in self.checkpoints
            ],
            "sealed_through": self.sealed_through,
            "pending_records": self.pending_records,
        }


@dataclass
class KeyRotation:
    """What :meth:`Sealer.rotate_key` did."""

    old_key_id: str
    new_key_id: str
    sealed_before: SealReport
    sealed_after: SealReport | None = None
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_key_id": self.old_key_id,
            "new_key_id": self.new_key_id,
            "sealed_before": self.sealed_before.to_dict(),
            "sealed_after": self.sealed_after.to_dict() if self.sealed_after else None,
            "warning": self.warning,
        }


# --- sealing ----------------------------------------------------------------------------------
class Sealer:
    """Seals the closed segments of one ledger."""

    def __init__(self, ledger: Ledger, *, now: datetime | None = None) -> None:
        self.ledger = ledger
        self.directory = ledger.directory
        self.now = now

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / "seal.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def seal(self, bucket: LockedBucket, *, force: bool = False) -> SealReport:
        """Seal every closed segment; with ``force`` the open one too (if not empty)."""
        now = self.now or datetime.now(UTC)
        report = SealReport()
        with self._lock():
            previous = read_local_checkpoints(self.directory)
            last = previous[-1] if previous else None
            key = load_or_create_key(self.ledger.key_path)
            self._publish_key(bucket, key.public_key())
            max_records = self.ledger.segment_max_records
            max_age = self.ledger.segment_max_age_seconds
            chunk: list[tuple[int, bytes, int, str, str]] = []
            durable = self.ledger.store.flush()  # never seal what a crash could still undo
            for record in self._pending(last, durable):  # one segment in memory at a time
                chunk.append(record)
                if len(chunk) == max_records:
                    last = self._seal_chunk(bucket, key, chunk, last, now)
                    report.checkpoints.append(last)
                    chunk = []
            if chunk:
                age = (now - parse_ts(chunk[0][3])).total_seconds()
                if force or age >= max_age:
                    last = self._seal_chunk(bucket, key, chunk, last, now)
                    report.checkpoints.append(last)
                    chunk = []
            report.pending_records = len(chunk)
            report.sealed_through = last.last_seq if last else 0
        if report.checkpoints:
            self.ledger.append(
                action=AuditAction.LEDGER_SEALED,
                actor="system",
                role="system",
                details={
                    "segments": [cp.segment_key for cp in report.checkpoints],
                    "sealed_through": report.sealed_through,
                    "bucket": bucket.bucket,
                },
            )
        return report

    def _pending(
        self, last: Checkpoint | None, stop: int
    ) -> Iterator[tuple[int, bytes, int, str, str]]:
        """(offset, line, seq, ts, hash) of each record after the last checkpoint and before
        byte ``stop``, checked."""
        start = last.end_offset if last else 0
        seq = last.last_seq if last else 0
        prev = last.last_hash if last else GENESIS_HASH
        for offset, line in self.ledger.store.lines(start, stop):
            info = check_line(line)  # strict: only canonical, well-formed records are sealed
            if info is None or info[0] != seq + 1 or info[1] != prev:
                raise LedgerIntegrityError(
                    f"refusing to seal: the record after seq {seq} (byte {offset}) does not "
                    "continue the chain; run `steward audit verify`",
                    seq=seq + 1,
                    reason="changed",
                )
            seq, prev = info[0], info[2]
            yield offset, line, seq, orjson.loads(line)["ts"], prev

    def rotate_key(
        self, bucket: LockedBucket, *, actor: str, role: str = "guardian", reason: str
    ) -> KeyRotation:
        """Replace the signing key; every checkpoint, old and new, still verifies.

        Seals what is pending under the old key first (S3 down: nothing changes), keeps the
        old public key in :func:`retired_key_dir`, destroys the old private key, records
        ``ledger.key_rotated`` and seals that record under the new key. Only the last step
        may fail without undoing the rotation (the next seal catches up).
        """
        before = self.seal(bucket, force=True)
        with self._lock():
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            old = load_or_create_key(self.ledger.key_path).public_key()
            old_id = key_id(old)
            self._publish_key(bucket, old)
            retired = retired_key_dir(self.ledger.key_path) / f"{old_id}.pub.pem"
            new = Ed25519PrivateKey.generate()
            new_id = key_id(new.public_key())
            self._publish_key(bucket, new.public_key())
            try:
                _write_atomically(retired, public_pem(old), mode=0o644)
                _write_private_key(self.ledger.key_path, new)
            except OSError as err:
                raise SignatureError(
                    f"cannot rotate the ledger signing key {self.ledger.key_path}: "
                    f"{err.strerror or err}; a key mounted read-only is rotated by deploying a "
                    "new STEWARD_AUDIT_SIGNING_KEY (the checkpoint chain keeps the old "
                    "checkpoints verifiable)"
                ) from err
        log.info("event=audit_key_rotated old_key_id=%s new_key_id=%s", old_id, new_id)
        self.ledger.append(
            action=AuditAction.LEDGER_KEY_ROTATED,
            actor=actor,
            role=role,
            details={
                "old_key_id": old_id,
                "new_key_id": new_id,
                "reason": reason,
                "retired_key": str(retired),
            },
        )
        rotation = KeyRotation(old_key_id=old_id, new_key_id=new_id, sealed_before=before)
        try:
            rotation.sealed_after = self.seal(bucket, force=True)
        except StorageError as err:
            rotation.warning = (
                f"the rotation is recorded but not sealed yet ({err}); the next "
                "`steward audit seal` seals it under the new key"
            )
        return rotation

    def _publish_key(self, bucket: LockedBucket, public_key: Ed25519PublicKey) -> None:
        name = KEY_PREFIX + key_id(public_key) + ".pem"
        try:
            bucket.head(name)
        except NotFoundError:
            bucket.put(name, public_pem(public_key), content_type="application/x-pem-file")

    def _seal_chunk(
        self,
        bucket: LockedBucket,
        key: Ed25519PrivateKey,
        chunk: list[tuple[int, bytes, int, str, str]],
        last: Checkpoint | None,
        now: datetime,
    ) -> Checkpoint:
        first_seq, last_seq = chunk[0][2], chunk[-1][2]
        payload = b"".join(line + b"\n" for _, line, _, _, _ in chunk)
        segment_key = SEGMENT_PREFIX + f"{first_seq:012d}-{last_seq:012d}.jsonl"
        stored = bucket.put(
            segment_key,
            payload,
            content_type="application/x-ndjson",
            metadata={"first-seq": str(first_seq), "last-seq": str(last_seq)},
        )
        checkpoint = Checkpoint(
            first_seq=first_seq,
            last_seq=last_seq,
            last_hash=chunk[-1][4],
            start_offset=chunk[0][0],
            end_offset=chunk[0][0] + len(payload),
            segment_key=segment_key,
            segment_version_id=stored.version_id,
            segment_sha256=stored.sha256,
            sealed_at=format_ts(now),
            prev_checkpoint=last.digest() if last else GENESIS_HASH,
            key_id=key_id(key.public_key()),
        ).signed(key)
        bucket.put(
            CHECKPOINT_PREFIX + f"{last_seq:012d}.json",
            checkpoint.to_json(),
            content_type="application/json",
        )
        path = self.directory / "seals.jsonl"
        with open(path, "ab") as handle:
            handle.write(checkpoint.to_json() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        log.info(
            "event=ledger_segment_sealed first_seq=%d last_seq=%d key=%s version=%s",
            first_seq,
            last_seq,
            segment_key,
            stored.version_id,
        )
        return checkpoint


def try_seal(ledger: Ledger, bucket: LockedBucket, *, force: bool = False) -> SealReport | None:
    """Seal, but only log a warning when the object store is down (the next run retries)."""
    try:
        return Sealer(ledger).seal(bucket, force=force)
    except StorageError as err:
        log.warning("event=ledger_seal_deferred reason=%s", str(err).replace(" ", "_")[:200])
        return None
