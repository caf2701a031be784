"""Prefect tasks over the audit ledger: seal it into Object Lock, verify it against the seals."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from modelsteward.settings import StewardSettings
from tasks._network import NETWORK_RETRIES, NETWORK_RETRY_DELAYS, network_error

# S3 down: retry; a broken chain or a bad signature: never (integrity errors are not network)
_NETWORK = {
    "retries": NETWORK_RETRIES,
    "retry_delay_seconds": NETWORK_RETRY_DELAYS,
    "retry_condition_fn": network_error,
    "cache_policy": NO_CACHE,
}


@task(name="seal-ledger", **_NETWORK)  # type: ignore[call-overload]
def seal_ledger(settings: StewardSettings, force: bool = False) -> dict[str, Any]:
    """Seal the closed segments (and with ``force`` the open one) with signed checkpoints."""
    from modelsteward.audit import Ledger
    from modelsteward.objectstore import LockedBucket

    bucket = LockedBucket.from_settings(settings).ensure()
    with Ledger.from_settings(settings) as ledger:
        return ledger.seal(bucket, force=force).to_dict()


@task(name="verify-sealed-ledger", **_NETWORK)  # type: ignore[call-overload]
def verify_sealed_ledger(settings: StewardSettings) -> dict[str, Any]:
    """Verify the chain, the checkpoints and the sealed segments; raise when broken."""
    from modelsteward.audit import Ledger
    from modelsteward.objectstore import LockedBucket

    with Ledger.from_settings(settings) as ledger:
        report = ledger.verify(LockedBucket.from_settings(settings))
    report.raise_if_broken()
    return report.to_dict()
