"""Sign model directories in the OpenSSF model signing format, and verify them.

A signature is a Sigstore bundle (JSON) whose DSSE payload is an in-toto statement listing
every file of the model with its SHA-256: the format of `model-signing
<https://github.com/sigstore/model-transparency>`_ (OpenSSF), so outside tools verify it too::

    model_signing verify key MODEL_DIR --public_key model-p256.pub.pem --signature model.sig

Keys are elliptic-curve P-256 PEM files (model-signing refuses Ed25519). The embedded default
key lives at ``$STEWARD_HOME/keys/model-p256.pem`` (mode 0600), generated on first use, with
its public half beside it (``model-p256.pub.pem``).

Files are hashed once per operation, by model-signing's file serializer: one thread per file
(SHA-256 releases the GIL), so a directory of several files uses every core. The manifest we
write beside the signature is read back from the signed payload, not hashed a second time.

A mismatch is a :class:`~modelsteward.errors.SignatureError` naming the files that differ
(changed, missing or added), never a plain ``ValueError``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsteward.errors import ConfigError, NotFoundError, SignatureError

if TYPE_CHECKING:
    from modelsteward.settings import StewardSettings

__all__ = [
    "MANIFEST_FILE",
    "SIGNATURE_FILE",
    "ModelSigner",
    "SignedModel",
    "ensure_signing_key",
    "manifest_from_signature",
    "public_key_path",
]

log = logging.getLogger(__name__)

SIGNATURE_FILE = "model.sig"
MANIFEST_FILE = "manifest.json"
_PREDICATE = "https://model_signing/signature/v1.0"


@dataclass(frozen=True)
class SignedModel:
    """A signed model directory: where its signature and manifest are, and what they say."""

    model_dir: Path
    signature_path: Path
    manifest_path: Path
    files: dict[str, str]  # relative path -> SHA-256 hex, as signed
    signature_sha256: str
    key_fingerprint: str

    @property
    def total_files(self) -> int:
        return len(self.files)


def public_key_path(private_key: Path) -> Path:
    """``model-p256.pem`` -> ``model-p256.pub.pem``."""
    return private_key.with_name(private_key.stem + ".pub" + private_key.suffix)


def ensure_signing_key(path: Path, *, create: bool = True) -> Path:
    """The P-256 private key at ``path``, created (0600) when missing and ``create``.

    The public half is (re)written beside it. A key of another type is a ConfigError:
    model-signing only signs with NIST elliptic curves.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not path.exists():
        if not create:
            raise ConfigError(
                f"STEWARD_MODEL_SIGNING_KEY: {path} does not exist; point it at a P-256 PEM key"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        log.info("event=model_key_generated path=%s curve=P-256", path)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise ConfigError(
            f"STEWARD_MODEL_SIGNING_KEY: {path} is not an unencrypted PEM private key ({err})"
        ) from err
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        raise ConfigError(
            f"STEWARD_MODEL_SIGNING_KEY: {path} holds a {type(private).__name__}; "
            "expected an elliptic-curve P-256 (or P-384/P-521) key: OpenSSF model signing "
            "refuses Ed25519 and RSA"
        )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_path = public_key_path(path)
    if not pub_path.exists() or pub_path.read_bytes() != public:
        pub_path.write_bytes(public)
    return path


def _payload(signature: dict[str, Any]) -> dict[str, Any]:
    try:
        raw = base64.b64decode(signature["dsseEnvelope"]["payload"])
        statement: dict[str, Any] = json.loads(raw)
    except (KeyError, TypeError, ValueError) as err:
        raise SignatureError(
            f"not an OpenSSF model signature (Sigstore bundle with a DSSE envelope): {err}"
        ) from err
    if statement.get("predicateType") != _PREDICATE:
        raise SignatureError(
            f"signature predicate is {statement.get('predicateType')!r}, expected {_PREDICATE!r}"
        )
    return statement


def manifest_from_signature(signature_path: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file the signature covers (not verified here)."""
    try:
        bundle = json.loads(signature_path.read_bytes())
    except FileNotFoundError as err:
        raise NotFoundError(f"{signature_path}: no such signature file") from err
    except ValueError as err:
        raise SignatureError(f"{signature_path}: not JSON ({err})") from err
    statement = _payload(bundle)
    files: dict[str, str] = {}
    for resource in statement.get("predicate", {}).get("resources", []):
        if resource.get("algorithm") != "sha256":
            raise SignatureError(
                f"{signature_path}: {resource.get('name')} hashed with "
                f"{resource.get('algorithm')!r}, expected sha256"
            )
        files[str(resource["name"])] = str(resource["digest"])
    return files


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe_mismatch(model_dir: Path, expected: dict[str, str]) -> list[str]:
    """Which files differ from the signed manifest: changed, missing, added."""
    actual = {
        p.relative_to(model_dir).as_posix(): p
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and not any(part.startswith(".git") for part in p.parts)
    }
    problems: list[str] = []
    for name, digest in sorted(expected.items()):
        path = actual.get(name)
        if path is None:
            problems.append(f"{name} is missing")
        elif _sha256_file(path) != digest:
            problems.append(f"{name} changed (sha256 differs from the signed manifest)")
    problems.extend(f"{name} was added" for name in sorted(set(actual) - set(expected)))
    return problems


class ModelSigner:
    """Signs and verifies model directories with one P-256 key."""

    def __init__(self, key_path: Path, *, max_workers: int | None = None) -> None:
        self.key_path = key_path
        self.max_workers = max_workers or max(2, os.cpu_count() or 2)

    @classmethod
    def from_settings(cls, settings: StewardSettings) -> ModelSigner:
        embedded = settings.model_signing_key is None
        return cls(ensure_signing_key(settings.model_key_path, create=embedded))

    @property
    def public_key_path(self) -> Path:
        return public_key_path(self.key_path)

    def fingerprint(self) -> str:
        """SHA-256 of the public key PEM: which key signed (recorded in the ledger)."""
        return hashlib.sha256(self.public_key_path.read_bytes()).hexdigest()

    def _hashing(self) -> Any:
        from model_signing import hashing

        return hashing.Config().use_file_serialization(
            hashing_algorithm="sha256", max_workers=self.max_workers
        )

    def sign(self, model_dir: Path, out_dir: Path) -> SignedModel:
        """Sign every file under ``model_dir``; write ``model.sig`` and ``manifest.json``.

        ``out_dir`` must not be inside ``model_dir`` (the signature would sign itself).
        """
        from model_signing import signing

        model_dir = model_dir.resolve()
        out_dir = out_dir.resolve()
        if not model_dir.is_dir():
            raise NotFoundError(f"{model_dir}: no such model directory to sign")
        if out_dir == model_dir or model_dir in out_dir.parents:
            raise ValueError(f"signature directory {out_dir} is inside the model {model_dir}")
        ensure_signing_key(self.key_path, create=False)
        out_dir.mkdir(parents=True, exist_ok=True)
        signature_path = out_dir / SIGNATURE_FILE
        config = signing.Config().use_elliptic_key_signer(private_key=self.key_path)
        config.set_hashing_config(self._hashing())
        try:
            config.sign(model_dir, signature_path)
        except ValueError as err:
            raise SignatureError(f"cannot sign {model_dir}: {err}") from err
        return self._signed(model_dir, signature_path)

    def _signed(self, model_dir: Path, signature_path: Path) -> SignedModel:
        files = manifest_from_signature(signature_path)
        signature_sha256 = hashlib.sha256(signature_path.read_bytes()).hexdigest()
        manifest_path = signature_path.with_name(MANIFEST_FILE)
        manifest = {
            "format": "openssf-model-signing/v1.0",
            "model": model_dir.name,
            "hash": "sha256",
            "files": files,
            "signature": signature_path.name,
            "signature_sha256": signature_sha256,
            "public_key_sha256": self.fingerprint(),
        }
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        log.info(
            "event=model_signed dir=%s files=%d signature_sha256=%s",
            model_dir,
            len(files),
            signature_sha256,
        )
        return SignedModel(
            model_dir=model_dir,
            signature_path=signature_path,
            manifest_path=manifest_path,
            files=files,
            signature_sha256=signature_sha256,
            key_fingerprint=self.fingerprint(),
        )

    def verify(self, model_dir: Path, signature_path: Path) -> SignedModel:
        """Verify ``model_dir`` against ``signature_path`` with our public key.

        Raises :class:`SignatureError` naming every file that differs, or saying that the
        signature itself does not verify (another key, an edited bundle).
        """
        from model_signing import verifying

        model_dir = model_dir.resolve()
        if not model_dir.is_dir():
            raise NotFoundError(f"{model_dir}: no such model directory to verify")
        if not signature_path.is_file():
            raise NotFoundError(f"{signature_path}: no such signature file")
        config = verifying.Config().use_elliptic_key_verifier(public_key=self.public_key_path)
        config.set_hashing_config(self._hashing())
        try:
            config.verify(model_dir, signature_path)
        except ValueError as err:
            if str(err).startswith("Signature mismatch"):
                problems = _describe_mismatch(model_dir, manifest_from_signature(signature_path))
                detail = "; ".join(problems) or str(err)
                raise SignatureError(
                    f"{model_dir} does not match its signature {signature_path.name}: {detail}. "
                    "The artifact was modified after signing: do not serve it; re-onboard "
                    "from a trusted source"
                ) from err
            raise SignatureError(
                f"{signature_path}: the signature does not verify with the key "
                f"{self.public_key_path} ({err}); it was made with another key or edited"
            ) from err
        except Exception as err:  # cryptography/protobuf errors on a corrupt bundle
            raise SignatureError(
                f"{signature_path}: not a valid signature for {model_dir} ({type(err).__name__}: "
                f"{err})"
            ) from err
        log.info("event=model_verified dir=%s signature=%s", model_dir, signature_path)
        return self._signed_view(model_dir, signature_path)

    def _signed_view(self, model_dir: Path, signature_path: Path) -> SignedModel:
        manifest_path = signature_path.with_name(MANIFEST_FILE)
        return SignedModel(
            model_dir=model_dir,
            signature_path=signature_path,
            manifest_path=manifest_path,
            files=manifest_from_signature(signature_path),
            signature_sha256=hashlib.sha256(signature_path.read_bytes()).hexdigest(),
            key_fingerprint=self.fingerprint(),
        )
