"""Model signing: OpenSSF format, P-256 key, mismatches name the file, outside CLI agrees."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from modelsteward.errors import ConfigError, NotFoundError, SignatureError
from modelsteward.signing import (
    ModelSigner,
    ensure_signing_key,
    manifest_from_signature,
    public_key_path,
)


def _model(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "weights.bin").write_bytes(os.urandom(4096))
    (root / "sub").mkdir()
    (root / "sub" / "vocab.txt").write_text("a\nb\n")
    return root


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> ModelSigner:
    key = tmp_path_factory.mktemp("keys") / "model-p256.pem"
    return ModelSigner(ensure_signing_key(key))


def test_key_generated_private_and_p256(tmp_path: Path) -> None:
    key = ensure_signing_key(tmp_path / "keys" / "model-p256.pem")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert public_key_path(key).name == "model-p256.pub.pem"
    assert b"PUBLIC KEY" in public_key_path(key).read_bytes()
    again = ensure_signing_key(key)
    assert again.read_bytes() == key.read_bytes()  # never regenerated


def test_ed25519_key_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = tmp_path / "ed.pem"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError, match="expected an elliptic-curve P-256"):
        ensure_signing_key(key)


def test_configured_key_missing_is_not_generated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ensure_signing_key(tmp_path / "absent.pem", create=False)


def test_sign_writes_signature_and_manifest_of_every_file(
    signer: ModelSigner, tmp_path: Path
) -> None:
    model = _model(tmp_path / "model")
    signed = signer.sign(model, tmp_path / "sig")
    assert set(signed.files) == {"MLmodel", "weights.bin", "sub/vocab.txt"}
    manifest = json.loads(signed.manifest_path.read_text())
    assert manifest["files"] == signed.files
    assert manifest["signature_sha256"] == signed.signature_sha256
    bundle = json.loads(signed.signature_path.read_text())
    assert bundle["mediaType"].startswith("application/vnd.dev.sigstore.bundle")
    assert manifest_from_signature(signed.signature_path) == signed.files
    assert signer.verify(model, signed.signature_path).files == signed.files


def test_signature_inside_model_refused(signer: ModelSigner, tmp_path: Path) -> None:
    model = _model(tmp_path / "model")
    with pytest.raises(ValueError, match="inside the model"):
        signer.sign(model, model / "sig")


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: (m / "weights.bin").write_bytes(b"evil"), r"weights\.bin changed"),
        (lambda m: (m / "sub" / "vocab.txt").unlink(), r"sub/vocab\.txt is missing"),
        (lambda m: (m / "backdoor.py").write_text("x"), r"backdoor\.py was added"),
    ],
)
def test_tampering_names_the_file(signer: ModelSigner, tmp_path: Path, tamper, message) -> None:  # type: ignore[no-untyped-def]
    model = _model(tmp_path / "model")
    signed = signer.sign(model, tmp_path / "sig")
    tamper(model)
    with pytest.raises(SignatureError, match=message):
        signer.verify(model, signed.signature_path)


def test_other_key_refused(signer: ModelSigner, tmp_path: Path) -> None:
    model = _model(tmp_path / "model")
    signed = signer.sign(model, tmp_path / "sig")
    other = ModelSigner(ensure_signing_key(tmp_path / "other.pem"))
    with pytest.raises(SignatureError, match="does not verify with the key"):
        other.verify(model, signed.signature_path)


def test_edited_bundle_refused(signer: ModelSigner, tmp_path: Path) -> None:
    model = _model(tmp_path / "model")
    signed = signer.sign(model, tmp_path / "sig")
    bundle = json.loads(signed.signature_path.read_text())
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = bundle["dsseEnvelope"]["signatures"][0]["sig"][
        ::-1
    ]
    signed.signature_path.write_text(json.dumps(bundle))
    with pytest.raises(SignatureError, match=r"does not verify|not a valid signature"):
        signer.verify(model, signed.signature_path)


def test_missing_inputs(signer: ModelSigner, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such model directory"):
        signer.sign(tmp_path / "nope", tmp_path / "sig")
    model = _model(tmp_path / "model")
    with pytest.raises(NotFoundError, match="no such signature"):
        signer.verify(model, tmp_path / "none.sig")


@hsettings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=1, max_size=256), flip=st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_is_detected(
    signer: ModelSigner, tmp_path_factory: pytest.TempPathFactory, data: bytes, flip: int
) -> None:
    root = tmp_path_factory.mktemp("prop")
    model = root / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(data)
    signed = signer.sign(model, root / "sig")
    changed = bytearray(data)
    changed[flip % len(data)] ^= 0xFF
    (model / "w.bin").write_bytes(bytes(changed))
    with pytest.raises(SignatureError, match=r"w\.bin changed"):
        signer.verify(model, signed.signature_path)


@pytest.mark.slow
def test_model_signing_cli_accepts_our_signature(signer: ModelSigner, tmp_path: Path) -> None:
    model = _model(tmp_path / "model")
    signed = signer.sign(model, tmp_path / "sig")
    cli = Path(sys.executable).with_name("model_signing")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "model_signing"]
    result = subprocess.run(
        [
            *command,
            "verify",
            "key",
            str(model),
            "--public_key",
            str(signer.public_key_path),
            "--signature",
            str(signed.signature_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (model / "weights.bin").write_bytes(b"tampered")
    tampered = subprocess.run(
        [
            *command,
            "verify",
            "key",
            str(model),
            "--public_key",
            str(signer.public_key_path),
            "--signature",
            str(signed.signature_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tampered.returncode != 0
