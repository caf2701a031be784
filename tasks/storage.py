"""Prefect tasks over the Object Lock bucket: store a signed artifact, verify what is stored."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from modelsteward.artifacts import ArtifactStore, StoredArtifact
from modelsteward.settings import StewardSettings
from modelsteward.signing import SIGNATURE_FILE, SignedModel
from tasks._network import NETWORK_RETRIES, NETWORK_RETRY_DELAYS, network_error

_NETWORK = {
    "retries": NETWORK_RETRIES,
    "retry_delay_seconds": NETWORK_RETRY_DELAYS,
    "retry_condition_fn": network_error,
    "cache_policy": NO_CACHE,
}


@task(name="find-stored-artifact", **_NETWORK)  # type: ignore[call-overload]
def find_stored(settings: StewardSettings, model: str, version: str) -> StoredArtifact | None:
    return ArtifactStore.from_settings(settings).find(model, version)


@task(name="fetch-stored-signature", **_NETWORK)  # type: ignore[call-overload]
def fetch_signature(settings: StewardSettings, stored: StoredArtifact, out_dir: Path) -> Path:
    """The stored signature of ``stored`` (its recorded version), written into ``out_dir``."""
    store = ArtifactStore.from_settings(settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SIGNATURE_FILE
    path.write_bytes(store.bucket.get(stored.signature_key, stored.signature_version_id))
    return path


@task(name="upload-artifact", **_NETWORK)  # type: ignore[call-overload]
def upload_artifact(
    settings: StewardSettings, signed: SignedModel, model: str, version: str
) -> StoredArtifact:
    """Store files, manifest and signature under COMPLIANCE retention (idempotent)."""
    return ArtifactStore.from_settings(settings).upload(signed, model=model, version=version)


@task(name="verify-stored-artifact", **_NETWORK)  # type: ignore[call-overload]
def verify_stored(
    settings: StewardSettings,
    stored: StoredArtifact,
    expected_signature_sha256: str,
    keep_in: Path | None = None,
) -> SignedModel:
    """Download the recorded versions and verify them against the signature.

    Refuses (IntegrityError/SignatureError, never retried) when anything was uploaded over a
    key, the signature is not the one recorded, or a file differs.
    """
    store = ArtifactStore.from_settings(settings)
    return store.verify_stored(
        stored, expected_signature_sha256=expected_signature_sha256, keep_in=keep_in
    )
