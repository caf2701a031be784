"""Helpers of the kill/re-enable flow tests: a promoted model without running onboarding.

:func:`promote_directly` does what ``onboard-model`` leaves behind, minus scanning, baseline
and the approval pause: a registered version, its signed artifact under Object Lock with the
``artifact.stored`` ledger record and registry tags, the ``champion`` alias and the switch on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL = "fraud-detector"
OWNER = "dana.whitfield@example.com"
GUARDIAN = "ai-security@example.com"
DELEGATE = "ciso@example.com"
OPERATOR = "mlops-oncall@example.com"


def shared_model(factory: Any) -> Path:
    """The sample model, trained once per session for both kill/re-enable test modules."""
    from _onboarding import sample_model

    cache = Path(factory.getbasetemp()) / "kill-flow-models"
    cache.mkdir(exist_ok=True)
    return sample_model(cache)


def promote_directly(settings: Any, model_dir: Path, work: Path) -> dict[str, Any]:
    from modelsteward.artifacts import ArtifactStore
    from modelsteward.audit import Ledger
    from modelsteward.killswitch import open_store
    from modelsteward.registry import ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    version = registry.register_version(MODEL, str(model_dir)).version
    artifacts = ArtifactStore.from_settings(settings)
    signed = artifacts.signer.sign(model_dir, work / "signature")
    stored = artifacts.upload(signed, model=MODEL, version=version)
    registry.set_version_tags(MODEL, version, stored.registry_tags())
    with Ledger.from_settings(settings) as ledger:
        ledger.append(
            action="artifact.stored",
            actor="onboard-model",
            role="system",
            model=MODEL,
            version=version,
            details={**stored.to_dict(), "lock_mode": "COMPLIANCE"},
        )
    registry.set_alias(MODEL, version)
    with open_store(settings.killswitch) as store:
        store.set_state(
            MODEL, active=True, actor=GUARDIAN, role="guardian", reason="onboarded", version=version
        )
    return {"version": version, "stored": stored}


def switch(settings: Any) -> Any:
    from modelsteward.killswitch import open_store

    with open_store(settings.killswitch) as store:
        return store.get_state(MODEL)


def alias(settings: Any) -> str | None:
    from modelsteward.registry import ModelRegistry

    return ModelRegistry.from_settings(settings).alias_version(MODEL)


def records(settings: Any, action: str | None = None) -> list[Any]:
    from modelsteward.audit import Ledger

    with Ledger.from_settings(settings) as ledger:
        return [
            r
            for r in ledger.records(model=MODEL, action=action)
            if not str(r.action).startswith("alert.")
        ]
