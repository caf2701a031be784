"""The Object Lock bucket against moto's server, which enforces COMPLIANCE retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from modelsteward.errors import IntegrityError, NotFoundError, StorageError
from modelsteward.objectstore import LockedBucket, s3_client


@pytest.fixture
def bucket(settings) -> LockedBucket:
    return LockedBucket.from_settings(settings).ensure()


def test_ensure_is_idempotent_and_sets_compliance_default(bucket: LockedBucket) -> None:
    bucket.ensure()
    config = bucket.client.get_object_lock_configuration(Bucket=bucket.bucket)
    lock = config["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    default = lock["Rule"]["DefaultRetention"]
    assert (default["Mode"], default["Days"]) == ("COMPLIANCE", 30)


def test_put_locks_each_version_in_compliance_mode(bucket: LockedBucket) -> None:
    stored = bucket.put("models/m/1/model.pkl", b"weights")
    head = bucket.head(stored.key, stored.version_id)
    assert head.lock_mode == "COMPLIANCE"
    assert head.retain_until is not None
    assert head.retain_until > datetime.now(UTC) + timedelta(days=29)
    assert head.sha256 == stored.sha256
    assert bucket.get(stored.key, stored.version_id) == b"weights"


def test_a_locked_version_cannot_be_deleted(bucket: LockedBucket) -> None:
    stored = bucket.put("ledger/segment-000001.jsonl", b"{}\n")
    with pytest.raises(ClientError, match="AccessDenied"):
        bucket.client.delete_object(
            Bucket=bucket.bucket, Key=stored.key, VersionId=stored.version_id
        )
    assert bucket.get(stored.key, stored.version_id) == b"{}\n"


def test_overwriting_keeps_the_locked_version(bucket: LockedBucket) -> None:
    first = bucket.put("k", b"original")
    second = bucket.put("k", b"replacement")
    assert first.version_id != second.version_id
    assert bucket.get("k", first.version_id) == b"original"
    assert bucket.get("k") == b"replacement"


def test_get_detects_content_that_does_not_match_its_recorded_digest(
    bucket: LockedBucket,
) -> None:
    bucket.client.put_object(
        Bucket=bucket.bucket, Key="forged", Body=b"forged", Metadata={"sha256": "00" * 32}
    )
    with pytest.raises(IntegrityError, match="does not match the SHA-256"):
        bucket.get("forged")


def test_missing_object_is_not_found(bucket: LockedBucket) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        bucket.head("nope")
    with pytest.raises(NotFoundError, match="not found"):
        bucket.get("nope")


def test_bucket_without_object_lock_is_refused(settings) -> None:
    client = s3_client(settings)
    client.create_bucket(Bucket=settings.bucket)
    with pytest.raises(StorageError, match="without Object Lock"):
        LockedBucket(client, settings.bucket, retention_days=1).ensure()


def test_retention_is_never_shortened(bucket: LockedBucket) -> None:
    stored = bucket.put("k", b"v")
    assert stored.retain_until is not None
    with pytest.raises(ValueError, match="never shortened"):
        bucket.extend_retention("k", stored.version_id, stored.retain_until - timedelta(days=1))
    later = stored.retain_until + timedelta(days=10)
    bucket.extend_retention("k", stored.version_id, later)
    head = bucket.head("k", stored.version_id)
    assert head.retain_until is not None
    assert abs((head.retain_until - later).total_seconds()) < 1


def test_unreachable_s3_is_a_storage_error(settings) -> None:
    from modelsteward.embedded import free_port

    dead = settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    client = boto3.client(
        "s3",
        endpoint_url=dead.s3_endpoint_url,
        region_name="us-east-1",
        config=boto3.session.Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(StorageError, match="unreachable"):
        LockedBucket(client, dead.bucket, retention_days=1).ensure()


def _big_file(path, size: int) -> bytes:
    import os

    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_a_large_file_is_streamed_in_parts_and_locked(bucket: LockedBucket, tmp_path) -> None:
    import hashlib

    data = _big_file(tmp_path / "weights.bin", 11 * 1024 * 1024 + 17)
    until = datetime.now(UTC) + timedelta(days=45)  # not the bucket's 30-day default
    stored = bucket.put_file(
        "models/m/1/weights.bin",
        tmp_path / "weights.bin",
        expected_sha256=hashlib.sha256(data).hexdigest(),
        retain_until=until,
        part_size=5 * 1024 * 1024,
    )
    raw = bucket.client.head_object(
        Bucket=bucket.bucket, Key=stored.key, VersionId=stored.version_id
    )
    assert raw["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB
    head = bucket.head(stored.key, stored.version_id)
    assert head.lock_mode == "COMPLIANCE" and head.size == len(data)
    assert head.retain_until is not None and head.retain_until > until - timedelta(seconds=2)
    assert head.sha256 == stored.sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(ClientError, match="AccessDenied"):
        bucket.client.delete_object(
            Bucket=bucket.bucket, Key=stored.key, VersionId=stored.version_id
        )
    fetched = bucket.get_to_file(stored.key, stored.version_id, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data and fetched.size == len(data)


def test_a_file_that_changed_since_it_was_hashed_leaves_nothing_behind(
    bucket: LockedBucket, tmp_path
) -> None:
    _big_file(tmp_path / "weights.bin", 6 * 1024 * 1024)
    for part_size in (5 * 1024 * 1024, 16 * 1024 * 1024):  # multipart, then a single put
        with pytest.raises(IntegrityError, match="changed since it was hashed"):
            bucket.put_file(
                "models/m/2/weights.bin",
                tmp_path / "weights.bin",
                expected_sha256="0" * 64,
                part_size=part_size,
            )
    with pytest.raises(NotFoundError):
        bucket.head("models/m/2/weights.bin")
    uploads = bucket.client.list_multipart_uploads(Bucket=bucket.bucket)
    assert uploads.get("Uploads", []) == []  # the multipart upload was aborted


def test_a_download_that_does_not_match_its_recorded_digest_is_refused(
    bucket: LockedBucket, tmp_path
) -> None:
    bucket.client.put_object(
        Bucket=bucket.bucket,
        Key="models/m/3/weights.bin",
        Body=b"tampered",
        Metadata={"sha256": "0" * 64},
    )
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "weights.bin"
    with pytest.raises(IntegrityError, match="does not match the SHA-256"):
        bucket.get_to_file("models/m/3/weights.bin", None, target)
    assert list(target.parent.iterdir()) == []  # neither the file nor a partial one
    with pytest.raises(NotFoundError):
        bucket.get_to_file("models/m/404/weights.bin", None, target)
