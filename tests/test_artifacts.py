"""Signed artifacts under S3 Object Lock: stored, read back, verified; tampering detected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelsteward.artifacts import ArtifactStore, artifact_prefix
from modelsteward.errors import IntegrityError, SignatureError


def _model(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "model.pkl").write_bytes(os.urandom(2048))
    (root / "sub").mkdir()
    (root / "sub" / "extra.json").write_text("{}")
    return root


@pytest.fixture
def store(settings) -> ArtifactStore:  # type: ignore[no-untyped-def]
    return ArtifactStore.from_settings(settings)


def test_upload_locks_every_object_and_verifies(store: ArtifactStore, tmp_path: Path) -> None:
    signed = store.signer.sign(_model(tmp_path / "m"), tmp_path / "sig")
    stored = store.upload(signed, model="fraud-detector", version="1")
    assert stored.prefix == artifact_prefix("fraud-detector", "1")
    assert set(stored.files) == {"MLmodel", "model.pkl", "sub/extra.json"}
    for key, version_id in stored.objects().items():
        head = store.bucket.head(key, version_id)
        assert head.lock_mode == "COMPLIANCE", key
        assert head.retain_until is not None
    verified = store.verify_stored(stored, expected_signature_sha256=signed.signature_sha256)
    assert verified.files == signed.files
    assert store.find("fraud-detector", "1") == stored
    assert stored.registry_tags()["steward.s3.index_version_id"] == stored.index_version_id


def test_upload_is_idempotent_but_refuses_other_content(
    store: ArtifactStore, tmp_path: Path
) -> None:
    model = _model(tmp_path / "m")
    signed = store.signer.sign(model, tmp_path / "sig")
    first = store.upload(signed, model="fraud-detector", version="2")
    resigned = store.signer.sign(model, tmp_path / "sig2")
    assert store.upload(resigned, model="fraud-detector", version="2") == first
    (model / "model.pkl").write_bytes(b"other weights")
    other = store.signer.sign(model, tmp_path / "sig3")
    with pytest.raises(IntegrityError, match=r"already stored .*\(model\.pkl differ"):
        store.upload(other, model="fraud-detector", version="2")


def test_object_uploaded_over_the_key_is_detected(store: ArtifactStore, tmp_path: Path) -> None:
    signed = store.signer.sign(_model(tmp_path / "m"), tmp_path / "sig")
    stored = store.upload(signed, model="fraud-detector", version="3")
    store.bucket.put(stored.file_key("model.pkl"), b"trojaned weights")
    with pytest.raises(IntegrityError, match=r"model\.pkl: its latest version .* uploaded over"):
        store.verify_stored(stored)


def test_signature_replaced_in_record_is_detected(store: ArtifactStore, tmp_path: Path) -> None:
    signed = store.signer.sign(_model(tmp_path / "m"), tmp_path / "sig")
    stored = store.upload(signed, model="fraud-detector", version="4")
    with pytest.raises(SignatureError, match="recorded at signing"):
        store.verify_stored(stored, expected_signature_sha256="0" * 64)


def test_file_changed_between_signing_and_upload(store: ArtifactStore, tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    signed = store.signer.sign(model, tmp_path / "sig")
    (model / "MLmodel").write_text("flavors: {evil: true}\n")
    with pytest.raises(SignatureError, match="changed between signing and upload"):
        store.upload(signed, model="fraud-detector", version="5")


def test_verified_copy_kept_on_request(store: ArtifactStore, tmp_path: Path) -> None:
    signed = store.signer.sign(_model(tmp_path / "m"), tmp_path / "sig")
    stored = store.upload(signed, model="fraud-detector", version="6")
    verified = store.verify_stored(stored, keep_in=tmp_path / "kept")
    assert (verified.model_dir / "sub" / "extra.json").read_text() == "{}"
