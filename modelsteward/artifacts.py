"""Immutable artifact storage: a signed model, its manifest and signature under Object Lock.

:meth:`ArtifactStore.upload` puts every file of a signed model directory, its
``manifest.json`` and ``model.sig`` into the Object Lock bucket (COMPLIANCE retention) under
``models/<model>/v<version>/``, then an ``index.json`` naming the S3 version id of each
object. Those version ids (:class:`StoredArtifact`) go to the MLflow tags and the ledger.

:meth:`ArtifactStore.verify_stored` is what happens before anything trusts the stored copy
(right after the upload, and again before promotion): it refuses when a key has a newer
version than the one recorded (someone uploaded over it), downloads exactly the recorded
versions into a fresh temporary directory, checks the signature's digest against the one
recorded at signing, and verifies the files against the signature with our public key.
Any difference is a :class:`~modelsteward.errors.SignatureError` or
:class:`~modelsteward.errors.IntegrityError` naming the object.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsteward.errors import IntegrityError, NotFoundError, SignatureError
from modelsteward.signing import MANIFEST_FILE, SIGNATURE_FILE, ModelSigner, SignedModel

if TYPE_CHECKING:
    from modelsteward.objectstore import LockedBucket
    from modelsteward.settings import StewardSettings

__all__ = [
    "ArtifactStore",
    "StoredArtifact",
    "artifact_prefix",
    "stored_for_version",
    "verify_version",
]

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
_ENSURED: set[tuple[str | None, str]] = set()


def artifact_prefix(model: str, version: str) -> str:
    return f"models/{model}/v{version}/"


@dataclass(frozen=True)
class StoredArtifact:
    """Where a signed model landed: S3 version id of every object, and what was signed."""

    bucket: str
    prefix: str
    files: dict[str, str]  # relative model path -> S3 version id
    manifest_version_id: str
    signature_version_id: str
    index_version_id: str
    signature_sha256: str
    file_sha256: dict[str, str] = field(default_factory=dict)
    retain_until: str | None = None

    @property
    def signature_key(self) -> str:
        return self.prefix + SIGNATURE_FILE

    @property
    def manifest_key(self) -> str:
        return self.prefix + MANIFEST_FILE

    @property
    def index_key(self) -> str:
        return self.prefix + INDEX_FILE

    def file_key(self, relative: str) -> str:
        return f"{self.prefix}files/{relative}"

    def objects(self) -> dict[str, str]:
        """Every key -> version id this artifact consists of (index included)."""
        objects = {self.file_key(rel): vid for rel, vid in self.files.items()}
        objects[self.manifest_key] = self.manifest_version_id
        objects[self.signature_key] = self.signature_version_id
        objects[self.index_key] = self.index_version_id
        return objects

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "files": dict(self.files),
            "manifest_version_id": self.manifest_version_id,
            "signature_version_id": self.signature_version_id,
            "index_version_id": self.index_version_id,
            "signature_sha256": self.signature_sha256,
            "file_sha256": dict(self.file_sha256),
            "retain_until": self.retain_until,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredArtifact:
        return cls(**data)

    def registry_tags(self) -> dict[str, str]:
        """The MLflow model-version tags that point at this stored artifact."""
        return {
            "steward.s3.bucket": self.bucket,
            "steward.s3.prefix": self.prefix,
            "steward.s3.index_version_id": self.index_version_id,
            "steward.s3.manifest_version_id": self.manifest_version_id,
            "steward.s3.signature_version_id": self.signature_version_id,
            "steward.signature_sha256": self.signature_sha256,
        }


class ArtifactStore:
    """Signed model artifacts in a :class:`~modelsteward.objectstore.LockedBucket`."""

    def __init__(self, bucket: LockedBucket, signer: ModelSigner) -> None:
        self.bucket = bucket
        self.signer = signer

    @classmethod
    def from_settings(cls, settings: StewardSettings) -> ArtifactStore:
        from modelsteward.objectstore import LockedBucket

        return cls(
            LockedBucket.from_settings(settings).ensure(), ModelSigner.from_settings(settings)
        )

    # --- upload ---------------------------------------------------------------------------
    def find(self, model: str, version: str) -> StoredArtifact | None:
        """The artifact stored earlier for ``model`` ``version``, read from its index."""
        prefix = artifact_prefix(model, version)
        try:
            head = self.bucket.head(prefix + INDEX_FILE)
        except NotFoundError:
            return None
        return self.load(prefix, head.version_id)

    def load(self, prefix: str, index_version_id: str) -> StoredArtifact:
        """The stored artifact described by one version of its ``index.json``."""
        raw = self.bucket.get(prefix + INDEX_FILE, index_version_id)
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise IntegrityError(
                f"s3://{self.bucket.bucket}/{prefix}{INDEX_FILE} is not JSON: {err}"
            ) from err
        return StoredArtifact.from_dict({**data, "index_version_id": index_version_id})

    def upload(self, signed: SignedModel, *, model: str, version: str) -> StoredArtifact:
        """Store ``signed`` under COMPLIANCE retention; idempotent for the same content.

        A second upload of the same files for the same version returns what is stored; other
        files for a version already stored are refused (an IntegrityError): a registered
        version's artifact never changes.
        """
        prefix = artifact_prefix(model, version)
        existing = self.find(model, version)
        if existing is not None:
            if existing.file_sha256 == signed.files:
                log.info("event=artifact_already_stored prefix=%s", prefix)
                return existing
            changed = sorted(
                set(existing.file_sha256.items()) ^ set(signed.files.items()),
            )
            raise IntegrityError(
                f"{model} version {version} is already stored at s3://{self.bucket.bucket}/"
                f"{prefix} with other content ({', '.join(sorted({n for n, _ in changed}))} "
                "differ); a registered version's artifact never changes: register a new version"
            )
        files: dict[str, str] = {}
        retain_until = None
        for relative in sorted(signed.files):
            try:  # streamed in parts when large; hashed on the way
                stored = self.bucket.put_file(
                    f"{prefix}files/{relative}",
                    signed.model_dir / relative,
                    expected_sha256=signed.files[relative],
                )
            except IntegrityError as err:
                raise SignatureError(
                    f"{signed.model_dir / relative} changed between signing and upload"
                ) from err
            files[relative] = stored.version_id
            retain_until = stored.retain_until
        manifest = self.bucket.put(
            prefix + MANIFEST_FILE,
            signed.manifest_path.read_bytes(),
            content_type="application/json",
        )
        signature = self.bucket.put(
            prefix + SIGNATURE_FILE,
            signed.signature_path.read_bytes(),
            content_type="application/json",
        )
        index: dict[str, Any] = {
            "bucket": self.bucket.bucket,
            "prefix": prefix,
            "files": files,
            "manifest_version_id": manifest.version_id,
            "signature_version_id": signature.version_id,
            "signature_sha256": signed.signature_sha256,
            "file_sha256": dict(signed.files),
            "retain_until": retain_until.isoformat() if retain_until else None,
        }
        stored_index = self.bucket.put(
            prefix + INDEX_FILE,
            json.dumps(index, indent=2, sort_keys=True).encode(),
            content_type="application/json",
        )
        log.info(
            "event=artifact_stored prefix=%s files=%d index_version=%s",
            prefix,
            len(files),
            stored_index.version_id,
        )
        return StoredArtifact.from_dict({**index, "index_version_id": stored_index.version_id})

    # --- verification ---------------------------------------------------------------------
    def check_latest(self, stored: StoredArtifact) -> None:
        """Refuse when any key has a newer S3 version than the one recorded."""
        for key, version_id in stored.objects().items():
            latest = self.bucket.head(key)
            if latest.version_id != version_id:
                raise IntegrityError(
                    f"s3://{stored.bucket}/{key}: its latest version is {latest.version_id}, "
                    f"not the recorded {version_id}: something was uploaded over the stored "
                    "artifact. Investigate before serving; the recorded version is still locked"
                )

    def download(self, stored: StoredArtifact, destination: Path) -> tuple[Path, Path]:
        """Fetch exactly the recorded versions; returns (model dir, signature path)."""
        model_dir = destination / "model"
        signature_dir = destination / "signature"
        model_dir.mkdir(parents=True)
        signature_dir.mkdir(parents=True)
        for relative, version_id in sorted(stored.files.items()):
            target = (model_dir / relative).resolve()
            if model_dir.resolve() not in target.parents:
                raise IntegrityError(f"stored file name {relative!r} escapes the model directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            self.bucket.get_to_file(stored.file_key(relative), version_id, target)
        signature_path = signature_dir / SIGNATURE_FILE
        signature_path.write_bytes(
            self.bucket.get(stored.signature_key, stored.signature_version_id)
        )
        (signature_dir / MANIFEST_FILE).write_bytes(
            self.bucket.get(stored.manifest_key, stored.manifest_version_id)
        )
        return model_dir, signature_path

    def verify_stored(
        self,
        stored: StoredArtifact,
        *,
        expected_signature_sha256: str | None = None,
        keep_in: Path | None = None,
    ) -> SignedModel:
        """Download what is stored and verify it against its signature; raise if anything differs.

        ``expected_signature_sha256`` is the digest recorded when the model was signed (the
        ledger, the MLflow tag); it defaults to the one in the stored index. With ``keep_in``
        the verified copy is left there (for the baseline); otherwise a temporary directory
        is removed afterwards.
        """
        self.check_latest(stored)
        expected = expected_signature_sha256 or stored.signature_sha256
        if keep_in is not None:
            return self._verify_into(stored, expected, keep_in)
        with tempfile.TemporaryDirectory(prefix="steward-verify-") as tmp:
            return self._verify_into(stored, expected, Path(tmp))

    def _verify_into(self, stored: StoredArtifact, expected: str, where: Path) -> SignedModel:
        model_dir, signature_path = self.download(stored, where)
        actual = hashlib.sha256(signature_path.read_bytes()).hexdigest()
        if actual != expected:
            raise SignatureError(
                f"s3://{stored.bucket}/{stored.signature_key} (version "
                f"{stored.signature_version_id}) has sha256 {actual}, but the signature recorded "
                f"at signing has {expected}"
            )
        verified = self.signer.verify(model_dir, signature_path)
        log.info("event=stored_artifact_verified prefix=%s", stored.prefix)
        return verified


def stored_for_version(settings: StewardSettings, model: str, version: str) -> StoredArtifact:
    """The stored artifact recorded on ``model`` ``version``'s MLflow tags (by onboarding)."""
    from modelsteward.registry import ModelRegistry

    tags = ModelRegistry.from_settings(settings).version_tags(model, version)
    prefix = tags.get("steward.s3.prefix")
    index_version_id = tags.get("steward.s3.index_version_id")
    if not prefix or not index_version_id:
        raise NotFoundError(
            f"{model} version {version} has no stored artifact on record (no steward.s3.* "
            "tags): it was never onboarded; run steward onboard"
        )
    return ArtifactStore.from_settings(settings).load(prefix, index_version_id)


def verify_version(settings: StewardSettings, model: str, version: str) -> SignedModel:
    """Re-verify an onboarded version before it serves again (``reenable-model``).

    Checks the stored copy (nothing uploaded over it; the recorded signature; every file) and
    the registry's copy (what ``models:/<model>@champion`` loads) against the same signature.
    """
    from modelsteward.registry import ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    tags = registry.version_tags(model, version)
    stored = stored_for_version(settings, model, version)
    store = ArtifactStore.from_settings(settings)
    expected = tags.get("steward.signature_sha256") or stored.signature_sha256
    with tempfile.TemporaryDirectory(prefix="steward-reverify-") as tmp:
        verified = store.verify_stored(
            stored, expected_signature_sha256=expected, keep_in=Path(tmp) / "s3"
        )
        source = registry.download(f"models:/{model}/{version}", Path(tmp) / "registry")
        store.signer.verify(source, verified.signature_path)
    log.info("event=version_reverified model=%s version=%s", model, version)
    return verified
