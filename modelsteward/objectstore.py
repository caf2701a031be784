"""Immutable storage: an S3 bucket with Object Lock in COMPLIANCE mode.

Works the same against real S3 (boto3's standard credential chain) and any S3 API endpoint
(``AWS_ENDPOINT_URL``: moto's server in the embedded default and in tests, MinIO). Every
object is written with an explicit COMPLIANCE retain-until date, so even a bucket whose default
retention was changed keeps our objects locked. Retention is never shortened by this code.

Large files (model weights) are streamed: :meth:`LockedBucket.put_file` uploads in parts
(multipart upload, four parts in flight, each with its Content-MD5, the whole file's SHA-256
computed on the way and compared with the one expected) and :meth:`LockedBucket.get_to_file`
downloads in chunks, so memory stays at a few parts whatever the file's size.

Known moto 5.2 gaps, which this module works around and no test relies on: ``get_object_retention``
answers 500 (we read mode and retain-until from ``head_object``), moto accepts shortening
COMPLIANCE retention, which real S3 refuses, and moto ignores the lock requested when a
multipart upload starts (so :meth:`LockedBucket.put_file` checks the lock of the completed
object and sets it when missing, which some S3-compatible stores need too).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsteward.errors import IntegrityError, NotFoundError, StorageError

if TYPE_CHECKING:
    from modelsteward.settings import StewardSettings

__all__ = ["LockedBucket", "StoredObject", "s3_client"]

log = logging.getLogger(__name__)

COMPLIANCE = "COMPLIANCE"
#: Files above this size are uploaded in parts of this size (S3 allows at most 10,000 parts,
#: so the part grows for files beyond 160 GB; every part but the last is at least 5 MiB).
PART_SIZE = 16 * 1024 * 1024
_MAX_PARTS = 10_000
_MIN_PART = 5 * 1024 * 1024
_CHUNK = 1024 * 1024
#: Parts of one file in flight at once (memory: this many parts).
PARALLEL_PARTS = 4


@dataclass(frozen=True)
class StoredObject:
    """Where an object landed and how it is locked."""

    bucket: str
    key: str
    version_id: str
    sha256: str
    size: int
    lock_mode: str | None
    retain_until: datetime | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}?versionId={self.version_id}"


def s3_client(settings: StewardSettings) -> Any:
    """A boto3 S3 client for ``settings`` (standard credential chain, optional endpoint)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        s3={"addressing_style": "path"} if settings.s3_endpoint_url else None,
    )
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=config,
    )


def _error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class LockedBucket:
    """A versioned bucket with Object Lock; objects are put under COMPLIANCE retention."""

    def __init__(self, client: Any, bucket: str, *, retention_days: int) -> None:
        if retention_days < 1:
            raise ValueError(f"retention_days must be >= 1, got {retention_days}")
        self.client = client
        self.bucket = bucket
        self.retention_days = retention_days

    @classmethod
    def from_settings(cls, settings: StewardSettings) -> LockedBucket:
        return cls(
            s3_client(settings),
            settings.bucket,
            retention_days=settings.object_lock_retention_days,
        )

    # --- bucket ---------------------------------------------------------------------------
    def ensure(self) -> LockedBucket:
        """Create the bucket with Object Lock and default COMPLIANCE retention; idempotent.

        An existing bucket without Object Lock is refused: Object Lock can only be enabled
        when a bucket is created, and storing governance evidence in an unlocked bucket would
        silently lose the guarantee.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if not self._exists():
                kwargs: dict[str, Any] = {"Bucket": self.bucket, "ObjectLockEnabledForBucket": True}
                region = self.client.meta.region_name
                if region and region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
                self.client.create_bucket(**kwargs)
                log.info("event=bucket_created bucket=%s object_lock=enabled", self.bucket)
        except ClientError as err:
            if _error_code(err) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(f"cannot create bucket {self.bucket!r}: {err}") from err
        except BotoCoreError as err:
            raise StorageError(f"S3 unreachable while creating {self.bucket!r}: {err}") from err

        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as err:
            raise StorageError(
                f"bucket {self.bucket!r} exists without Object Lock ({_error_code(err)}); "
                "Object Lock can only be enabled at creation: use a new bucket name "
                "(STEWARD_S3_BUCKET)"
            ) from err
        lock = config.get("ObjectLockConfiguration", {})
        if lock.get("ObjectLockEnabled") != "Enabled":
            raise StorageError(f"bucket {self.bucket!r} has Object Lock disabled")
        default = lock.get("Rule", {}).get("DefaultRetention", {})
        if default.get("Mode") != COMPLIANCE or default.get("Days", 0) < self.retention_days:
            self.client.put_object_lock_configuration(
                Bucket=self.bucket,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": COMPLIANCE, "Days": self.retention_days}},
                },
            )
        return self

    def _exists(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as err:
            if _error_code(err) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    # --- objects --------------------------------------------------------------------------
    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        retain_until: datetime | None = None,
    ) -> StoredObject:
        """Store ``body`` as a new version locked in COMPLIANCE mode until ``retain_until``."""
        from botocore.exceptions import BotoCoreError, ClientError

        until = retain_until or datetime.now(UTC) + timedelta(days=self.retention_days)
        digest = hashlib.sha256(body).digest()
        try:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata={**(metadata or {}), "sha256": digest.hex()},
                ContentMD5=base64.b64encode(
                    hashlib.md5(body, usedforsecurity=False).digest()
                ).decode(),
                ObjectLockMode=COMPLIANCE,
                ObjectLockRetainUntilDate=until,
            )
        except (ClientError, BotoCoreError) as err:
            raise StorageError(f"S3 refused s3://{self.bucket}/{key}: {err}") from err
        version_id = response.get("VersionId")
        if not version_id:
            raise StorageError(
                f"s3://{self.bucket}/{key} was stored without a version id: "
                "the bucket is not versioned (Object Lock requires versioning)"
            )
        return StoredObject(
            self.bucket, key, version_id, digest.hex(), len(body), COMPLIANCE, until
        )

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        expected_sha256: str | None = None,
        content_type: str = "application/octet-stream",
        retain_until: datetime | None = None,
        part_size: int = PART_SIZE,
    ) -> StoredObject:
        """Store the file at ``path`` like :meth:`put`, streaming it in parts when large.

        With ``expected_sha256`` the file must still have that digest (it is hashed as it is
        read; a file changed since it was signed is refused and nothing is left behind).
        """
        size = path.stat().st_size
        if size <= part_size:
            body = path.read_bytes()
            if expected_sha256 and hashlib.sha256(body).hexdigest() != expected_sha256:
                raise IntegrityError(f"{path} changed since it was hashed; nothing was stored")
            return self.put(key, body, content_type=content_type, retain_until=retain_until)
        part_size = max(part_size, _MIN_PART, -(-size // _MAX_PARTS))
        until = retain_until or datetime.now(UTC) + timedelta(days=self.retention_days)
        digest = expected_sha256 or file_sha256(path)
        return self._multipart(key, path, digest, content_type, until, part_size)

    def _multipart(
        self, key: str, path: Path, digest: str, content_type: str, until: datetime, part: int
    ) -> StoredObject:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{key}"
        try:
            upload = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ContentType=content_type,
                Metadata={"sha256": digest},
                ObjectLockMode=COMPLIANCE,
                ObjectLockRetainUntilDate=until,
            )
        except (ClientError, BotoCoreError) as err:
            raise StorageError(f"S3 refused {where}: {err}") from err
        upload_id = upload["UploadId"]
        try:
            sha = hashlib.sha256()
            size = 0
            etags: dict[int, Future[str]] = {}
            # Parts are read and hashed in order, uploaded PARALLEL_PARTS at a time: memory
            # stays at that many parts, and a slow part does not stall the others.
            with open(path, "rb") as handle, ThreadPoolExecutor(PARALLEL_PARTS) as pool:
                window: list[Future[str]] = []
                while chunk := handle.read(part):
                    sha.update(chunk)
                    size += len(chunk)
                    number = len(etags) + 1
                    etags[number] = pool.submit(self._upload_part, key, upload_id, number, chunk)
                    window.append(etags[number])
                    if len(window) >= PARALLEL_PARTS:
                        window.pop(0).result()
                    del chunk
            parts = [{"PartNumber": n, "ETag": future.result()} for n, future in etags.items()]
            if sha.hexdigest() != digest:
                raise IntegrityError(f"{path} changed since it was hashed; nothing was stored")
            done = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException as err:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except (ClientError, BotoCoreError):
                log.warning("event=multipart_abort_failed key=%s upload_id=%s", key, upload_id)
            if isinstance(err, ClientError | BotoCoreError):
                raise StorageError(f"S3 refused {where}: {err}") from err
            raise
        version_id = done.get("VersionId")
        if not version_id:
            raise StorageError(
                f"{where} was stored without a version id: the bucket is not versioned "
                "(Object Lock requires versioning)"
            )
        stored = self.head(key, version_id)
        if (
            stored.lock_mode != COMPLIANCE
            or stored.retain_until is None
            or stored.retain_until < until - timedelta(seconds=1)
        ):
            # The store did not apply the lock asked for at the start of the upload.
            self._set_retention(key, version_id, until)
        log.info("event=object_stored key=%s parts=%d bytes=%d", key, len(parts), size)
        return StoredObject(self.bucket, key, version_id, digest, size, COMPLIANCE, until)

    def _upload_part(self, key: str, upload_id: str, number: int, chunk: bytes) -> str:
        md5 = hashlib.md5(chunk, usedforsecurity=False).digest()
        answer = self.client.upload_part(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=chunk,
            ContentMD5=base64.b64encode(md5).decode(),
        )
        return str(answer["ETag"])

    def get_to_file(self, key: str, version_id: str | None, destination: Path) -> StoredObject:
        """Download one version into ``destination`` in chunks, checked against its SHA-256.

        The file appears only once complete and verified (written beside it, then renamed).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        where = f"s3://{self.bucket}/{key}"
        partial = destination.with_name(f".{destination.name}.part")
        sha = hashlib.sha256()
        size = 0
        try:
            response = self.client.get_object(**kwargs)
            with open(partial, "wb") as out:
                for chunk in response["Body"].iter_chunks(_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except ClientError as err:
            partial.unlink(missing_ok=True)
            if _error_code(err) in ("404", "NoSuchKey", "NoSuchVersion"):
                raise NotFoundError(f"{where} not found") from err
            raise StorageError(f"cannot read {where}: {err}") from err
        except (BotoCoreError, OSError) as err:
            partial.unlink(missing_ok=True)
            raise StorageError(f"cannot download {where} to {destination}: {err}") from err
        expected = response.get("Metadata", {}).get("sha256")
        if expected and sha.hexdigest() != expected:
            partial.unlink(missing_ok=True)
            raise IntegrityError(
                f"{where} (version {response.get('VersionId')}) does not match the SHA-256 "
                "recorded when it was stored"
            )
        os.replace(partial, destination)
        return StoredObject(
            self.bucket,
            key,
            response.get("VersionId", version_id or ""),
            sha.hexdigest(),
            size,
            response.get("ObjectLockMode"),
            response.get("ObjectLockRetainUntilDate"),
        )

    def head(self, key: str, version_id: str | None = None) -> StoredObject:
        """Metadata of one version, with its lock mode and retain-until date."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            meta = self.client.head_object(**kwargs)
        except ClientError as err:
            if _error_code(err) in ("404", "NoSuchKey", "NoSuchVersion"):
                raise NotFoundError(f"s3://{self.bucket}/{key} not found") from err
            raise StorageError(f"cannot read s3://{self.bucket}/{key}: {err}") from err
        except BotoCoreError as err:
            raise StorageError(f"S3 unreachable reading s3://{self.bucket}/{key}: {err}") from err
        return StoredObject(
            bucket=self.bucket,
            key=key,
            version_id=meta.get("VersionId", version_id or ""),
            sha256=meta.get("Metadata", {}).get("sha256", ""),
            size=int(meta.get("ContentLength", 0)),
            lock_mode=meta.get("ObjectLockMode"),
            retain_until=meta.get("ObjectLockRetainUntilDate"),
        )

    def get(self, key: str, version_id: str | None = None, *, verify: bool = True) -> bytes:
        """The bytes of one version; with ``verify``, checked against the SHA-256 stored at put."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            response = self.client.get_object(**kwargs)
            body: bytes = response["Body"].read()
        except ClientError as err:
            if _error_code(err) in ("404", "NoSuchKey", "NoSuchVersion"):
                raise NotFoundError(f"s3://{self.bucket}/{key} not found") from err
            raise StorageError(f"cannot read s3://{self.bucket}/{key}: {err}") from err
        except BotoCoreError as err:
            raise StorageError(f"S3 unreachable reading s3://{self.bucket}/{key}: {err}") from err
        expected = response.get("Metadata", {}).get("sha256")
        if verify and expected and hashlib.sha256(body).hexdigest() != expected:
            raise IntegrityError(
                f"s3://{self.bucket}/{key} (version {response.get('VersionId')}) does not "
                f"match the SHA-256 recorded when it was stored"
            )
        return body

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (latest versions), sorted."""
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as err:
            raise StorageError(f"cannot list s3://{self.bucket}/{prefix}: {err}") from err
        return sorted(keys)

    def extend_retention(self, key: str, version_id: str, until: datetime) -> None:
        """Extend (never shorten) the COMPLIANCE retention of one version."""
        current = self.head(key, version_id).retain_until
        if current is not None and until <= current:
            raise ValueError(
                f"retention of s3://{self.bucket}/{key} ends {current.isoformat()}; "
                f"{until.isoformat()} would shorten it, and COMPLIANCE retention is never shortened"
            )
        self._set_retention(key, version_id, until)

    def _set_retention(self, key: str, version_id: str, until: datetime) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object_retention(
                Bucket=self.bucket,
                Key=key,
                VersionId=version_id,
                Retention={"Mode": COMPLIANCE, "RetainUntilDate": until},
            )
        except (ClientError, BotoCoreError) as err:
            raise StorageError(f"cannot set retention of s3://{self.bucket}/{key}: {err}") from err


def file_sha256(path: Path) -> str:
    """SHA-256 hex of a file, read in chunks."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()
