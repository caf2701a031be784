"""The tamper-evident audit ledger: who did what, when, to which model, and why.

Every governance action is appended as a :class:`Record` to a hash chain: each record carries
the SHA-256 of its own canonical JSON (:mod:`.records` documents the encoding) and the hash of
the record before it, so changing, removing, inserting or reordering any record breaks the
chain at that record. The chain lives in one append-only JSON Lines file under
``$STEWARD_HOME/ledger`` (:mod:`.store`): appends from any number of threads and processes are
serialised by a file lock, made durable with a shared ``fdatasync`` (group commit) before they
return, and a record torn by a crash is cut off, never merged. Closed segments are sealed
(:mod:`.seal`) into an S3 bucket under Object Lock COMPLIANCE retention together with an
Ed25519-signed checkpoint of the last seq and hash, so even deleting the local tail is detected.
:mod:`.verify` checks all of it and names the first bad record.

This package never imports Prefect, MLflow or pandas: serving apps and the HTTP service use it.

    from modelsteward.audit import AuditAction, Ledger
    ledger = Ledger.from_settings(load_settings())
    ledger.append(action=AuditAction.MODEL_DISABLED, actor="ana@example.com",
                  role="guardian", model="fraud-detector", details={"reason": "drift"})
    for record in ledger.records(model="fraud-detector", since="2026-01-01"): ...
    ledger.verify().raise_if_broken()           # LedgerIntegrityError names seq and reason
    ledger.seal(LockedBucket.from_settings(settings).ensure())
"""

from modelsteward.audit.ledger import Ledger
from modelsteward.audit.records import GENESIS_HASH, AuditAction, Record, Role, canonical_json
from modelsteward.audit.seal import Checkpoint, SealReport
from modelsteward.audit.verify import VerifyReport

__all__ = [
    "GENESIS_HASH",
    "AuditAction",
    "Checkpoint",
    "Ledger",
    "Record",
    "Role",
    "SealReport",
    "VerifyReport",
    "canonical_json",
]
