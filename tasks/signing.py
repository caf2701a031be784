"""Prefect tasks of artifact integrity: scan, sign, verify. Never retried: integrity errors
are final, and these tasks touch only local files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from modelsteward.scanning import scan_artifact
from modelsteward.settings import StewardSettings
from modelsteward.signing import ModelSigner, SignedModel


@task(name="scan-artifact", cache_policy=NO_CACHE)
def scan_model(model_dir: Path) -> dict[str, Any]:
    """Refuse pickles that import dangerous callables (UnsafeArtifactError); summary otherwise."""
    return scan_artifact(model_dir).summary()


@task(name="sign-artifact", cache_policy=NO_CACHE)
def sign_model(settings: StewardSettings, model_dir: Path, out_dir: Path) -> SignedModel:
    return ModelSigner.from_settings(settings).sign(model_dir, out_dir)


@task(name="verify-artifact", cache_policy=NO_CACHE)
def verify_model(settings: StewardSettings, model_dir: Path, signature_path: Path) -> SignedModel:
    """Verify a local model directory against a signature (SignatureError names the file)."""
    return ModelSigner.from_settings(settings).verify(model_dir, signature_path)
