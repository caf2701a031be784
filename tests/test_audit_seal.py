"""Sealing into S3 Object Lock (moto's server enforces it) and what it lets verify detect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from modelsteward.audit import AuditAction, Ledger
from modelsteward.audit.records import GENESIS_HASH, Draft
from modelsteward.audit.seal import CHECKPOINT_PREFIX, SEGMENT_PREFIX, Sealer, try_seal
from modelsteward.embedded import free_port
from modelsteward.errors import LedgerIntegrityError, StorageError
from modelsteward.objectstore import LockedBucket


@pytest.fixture
def bucket(settings) -> LockedBucket:
    return LockedBucket.from_settings(settings).ensure()


def _ledger(settings, **overrides) -> Ledger:
    return Ledger(
        settings.ledger_dir,
        key_path=settings.audit_key_path,
        segment_max_records=overrides.get("max_records", settings.audit_segment_max_records),
        segment_max_age_seconds=overrides.get("max_age", settings.audit_segment_max_age_seconds),
    )


def _fill(ledger: Ledger, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        ledger.append(
            action=AuditAction.DRIFT_EVALUATED,
            actor="system",
            role="system",
            model="fraud-detector",
            details={"i": i},
        )


def test_forced_seal_stores_segment_and_signed_checkpoint(settings, bucket: LockedBucket) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 5)
    report = ledger.seal(bucket, force=True)
    assert [(cp.first_seq, cp.last_seq) for cp in report.checkpoints] == [(1, 5)]
    checkpoint = report.checkpoints[0]
    segment = bucket.get(checkpoint.segment_key, checkpoint.segment_version_id)
    assert segment == ledger.path.read_bytes()[: checkpoint.end_offset]
    head = bucket.head(checkpoint.segment_key, checkpoint.segment_version_id)
    assert head.lock_mode == "COMPLIANCE" and head.retain_until > datetime.now(UTC)
    stored = orjson.loads(bucket.get(CHECKPOINT_PREFIX + "000000000005.json"))
    assert stored["checkpoint"]["last_hash"] == checkpoint.last_hash
    assert settings.audit_key_path.stat().st_mode & 0o777 == 0o600
    sealed = ledger.last()
    assert sealed is not None and sealed.action is AuditAction.LEDGER_SEALED
    assert sealed.details["sealed_through"] == 5
    verified = ledger.verify(bucket)
    assert verified.ok, verified.to_dict()
    assert (verified.checkpoints, verified.segments, verified.records) == (1, 1, 6)


def test_segments_close_by_size_and_by_age(settings, bucket: LockedBucket) -> None:
    ledger = _ledger(settings, max_records=3, max_age=60)
    _fill(ledger, 7)
    report = ledger.seal(bucket)
    assert [(cp.first_seq, cp.last_seq) for cp in report.checkpoints] == [(1, 3), (4, 6)]
    assert report.pending_records == 1
    assert ledger.seal(bucket).checkpoints == []  # seq 7 and the seal record: young, open
    later = Sealer(ledger, now=datetime.now(UTC) + timedelta(seconds=61)).seal(bucket)
    assert [(cp.first_seq, cp.last_seq) for cp in later.checkpoints] == [(7, 8)]
    assert later.checkpoints[0].prev_checkpoint == report.checkpoints[-1].digest()
    assert bucket.list_keys(SEGMENT_PREFIX) == [
        SEGMENT_PREFIX + "000000000001-000000000003.jsonl",
        SEGMENT_PREFIX + "000000000004-000000000006.jsonl",
        SEGMENT_PREFIX + "000000000007-000000000008.jsonl",
    ]
    assert ledger.verify(bucket).segments == 3


def test_object_lock_refuses_deleting_or_overwriting_a_sealed_segment(
    settings, bucket: LockedBucket
) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 3)
    checkpoint = ledger.seal(bucket, force=True).checkpoints[0]
    original = bucket.get(checkpoint.segment_key, checkpoint.segment_version_id)
    with pytest.raises(ClientError, match="AccessDenied"):
        bucket.client.delete_object(
            Bucket=bucket.bucket,
            Key=checkpoint.segment_key,
            VersionId=checkpoint.segment_version_id,
        )
    # Overwriting only adds a version: the sealed one stays, and verify reads that one.
    bucket.client.put_object(Bucket=bucket.bucket, Key=checkpoint.segment_key, Body=b"forged\n")
    bucket.client.delete_object(Bucket=bucket.bucket, Key=checkpoint.segment_key)  # a marker
    assert bucket.get(checkpoint.segment_key, checkpoint.segment_version_id) == original
    report = ledger.verify(bucket)
    assert report.ok and report.segments == 1, report.to_dict()


def test_truncated_or_deleted_local_tail_is_detected(settings, bucket: LockedBucket) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 6)
    ledger.seal(bucket, force=True)
    ledger.close()
    lines = ledger.path.read_bytes().rstrip(b"\0").splitlines(keepends=True)
    ledger.path.write_bytes(b"".join(lines[:4]))
    for target in (bucket, None):  # the local copy of the checkpoint suffices
        report = _ledger(settings).verify(target)
        assert (report.first_bad_seq, report.reason) == (5, "truncated"), report.to_dict()
    ledger.path.unlink()
    (settings.ledger_dir / "seals.jsonl").unlink()
    report = _ledger(settings).verify(bucket)
    assert (report.first_bad_seq, report.reason) == (1, "truncated")
    with pytest.raises(LedgerIntegrityError, match="broken at seq 1 \\(truncated\\)"):
        report.raise_if_broken()


def test_a_consistently_rehashed_history_is_caught_by_the_seal(
    settings, bucket: LockedBucket
) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 4)
    ledger.seal(bucket, force=True)
    ledger.close()
    # Rewrite seq 2.. with recomputed hashes: the chain alone looks perfect.
    lines = ledger.path.read_bytes().rstrip(b"\0").splitlines(keepends=True)
    rewritten = [lines[0]]
    prev = orjson.loads(lines[0])["hash"]
    for seq, raw in enumerate(lines[1:], start=2):
        data = orjson.loads(raw)
        actor = "mallory" if seq == 2 else data["actor"]
        draft = Draft.build(
            action=data["action"],
            actor=actor,
            role=data["role"],
            model=data["model"],
            details=data["details"],
        )
        line, prev = draft.seal(seq=seq, ts=data["ts"], prev_hash=prev)
        rewritten.append(line)
    ledger.path.write_bytes(b"".join(rewritten))
    report = _ledger(settings).verify(bucket)
    assert (report.first_bad_seq, report.reason) == (2, "changed"), report.to_dict()
    assert _ledger(settings).verify(None).reason == "changed"


def test_a_forged_checkpoint_has_a_bad_signature(settings, bucket: LockedBucket) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 3)
    ledger.seal(bucket, force=True)
    seals = settings.ledger_dir / "seals.jsonl"
    data = orjson.loads(seals.read_bytes())
    data["checkpoint"]["last_seq"] = 2
    seals.write_bytes(orjson.dumps(data) + b"\n")
    report = ledger.verify(None)
    assert (report.first_bad_seq, report.reason) == (1, "bad signature"), report.to_dict()
    assert ledger.verify(bucket).reason == "bad signature"


def test_s3_down_does_not_block_appends_and_sealing_retries(settings, bucket: LockedBucket) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 3)
    down = LockedBucket(
        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{free_port()}",
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=1),
        ),
        bucket.bucket,
        retention_days=1,
    )
    with pytest.raises(StorageError, match=r"S3 (refused|unreachable)"):
        ledger.seal(down, force=True)
    assert try_seal(ledger, down, force=True) is None
    _fill(ledger, 2, start=3)  # appends go on
    assert not (settings.ledger_dir / "seals.jsonl").exists()
    report = ledger.seal(bucket, force=True)
    assert [(cp.first_seq, cp.last_seq) for cp in report.checkpoints] == [(1, 5)]
    assert ledger.verify(bucket).ok


def test_sealing_refuses_a_broken_chain(settings, bucket: LockedBucket) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 3)
    ledger.close()
    lines = ledger.path.read_bytes().rstrip(b"\0").splitlines(keepends=True)
    ledger.path.write_bytes(lines[0] + lines[2])
    with pytest.raises(LedgerIntegrityError, match="refusing to seal"):
        _ledger(settings).seal(bucket, force=True)
    assert bucket.list_keys(SEGMENT_PREFIX) == []


def test_an_empty_ledger_seals_nothing(settings, bucket: LockedBucket, tmp_path: Path) -> None:
    report = _ledger(settings).seal(bucket, force=True)
    assert report.checkpoints == [] and report.sealed_through == 0
    assert _ledger(settings).verify(bucket).ok
    assert _ledger(settings).verify().last_hash == GENESIS_HASH


def test_a_rotated_key_keeps_every_earlier_checkpoint_verifiable(
    settings, bucket: LockedBucket
) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 3)
    ledger.seal(bucket, force=True)
    _fill(ledger, 2, start=3)  # pending (with seq 4, the seal's own record): sealed under
    # the old key by the rotation
    old_pem = settings.audit_key_path.read_bytes()
    rotation = Sealer(ledger).rotate_key(bucket, actor="gina@example.com", reason="scheduled")
    assert rotation.old_key_id != rotation.new_key_id and rotation.warning is None
    assert settings.audit_key_path.read_bytes() != old_pem  # the old private key is gone
    assert settings.audit_key_path.stat().st_mode & 0o777 == 0o600
    retired = settings.audit_key_path.parent / "retired" / f"{rotation.old_key_id}.pub.pem"
    assert b"PUBLIC KEY" in retired.read_bytes()
    [before] = rotation.sealed_before.checkpoints
    assert (before.first_seq, before.last_seq, before.key_id) == (4, 6, rotation.old_key_id)
    assert rotation.sealed_after is not None
    [after] = rotation.sealed_after.checkpoints
    assert (after.first_seq, after.key_id) == (7, rotation.new_key_id)
    rotated = list(ledger.records(action=AuditAction.LEDGER_KEY_ROTATED))
    assert [r.details["old_key_id"] for r in rotated] == [rotation.old_key_id]
    assert rotated[0].actor == "gina@example.com" and rotated[0].seq == after.last_seq
    _fill(ledger, 2, start=10)
    ledger.seal(bucket, force=True)
    report = ledger.verify(bucket)
    assert report.ok and report.checkpoints == 4, report.to_dict()  # old key: 1..3, 4..6
    assert not report.warnings, report.warnings


def test_a_checkpoint_by_an_unknown_key_is_refused_unless_a_trusted_one_vouches_for_it(
    settings, bucket: LockedBucket
) -> None:
    ledger = _ledger(settings)
    _fill(ledger, 3)
    ledger.seal(bucket, force=True)
    rotation = Sealer(ledger).rotate_key(bucket, actor="gina@example.com", reason="exposure")
    retired = settings.audit_key_path.parent / "retired" / f"{rotation.old_key_id}.pub.pem"
    retired.unlink()  # an auditor's machine: only the current key is at hand
    # The old checkpoint is vouched for by the new key's checkpoint that links to it, and its
    # signature is checked against the public key published in the bucket.
    report = ledger.verify(bucket)
    assert report.ok and report.checkpoints == 3, report.to_dict()  # 1..3, 4..4 old; 5..6 new
    # Offline, the signature cannot be checked, but the chain of checkpoints still vouches.
    offline = ledger.verify(None)
    assert offline.ok and any("not at hand" in w for w in offline.warnings), offline.to_dict()
    # A key deployed out of band, with no checkpoint by it yet: the old checkpoints are
    # signed by a key nobody vouches for.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings.audit_key_path.write_bytes(stranger)
    refused = ledger.verify(None)
    assert (refused.first_bad_seq, refused.reason) == (1, "bad signature"), refused.to_dict()
    assert "no checkpoint signed by a trusted key follows it" in str(refused.error)


def test_a_checkpoint_missing_from_the_chain_is_found(settings, bucket: LockedBucket) -> None:
    ledger = _ledger(settings, max_records=2)
    _fill(ledger, 6)
    ledger.seal(bucket, force=True)
    seals = settings.ledger_dir / "seals.jsonl"
    lines = seals.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    seals.write_bytes(lines[0] + lines[2])  # the checkpoint of seq 3..4 is dropped
    report = ledger.verify(None)
    assert (report.first_bad_seq, report.reason) == (3, "missing"), report.to_dict()
    assert ledger.verify(bucket).ok  # the bucket still holds it (Object Lock)


def test_rotate_key_from_the_cli(settings, bucket: LockedBucket) -> None:
    from click.testing import CliRunner

    from modelsteward.cli import cli

    ledger = _ledger(settings)
    _fill(ledger, 2)
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "rotate-key", "--as", "gina@example.com"])
    assert result.exit_code != 0 and "--reason" in result.output
    result = runner.invoke(
        cli, ["audit", "rotate-key", "--as", "gina@example.com", "--reason", "yearly"]
    )
    assert result.exit_code == 0, result.output
    assert "rotated the ledger signing key" in result.output
    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
