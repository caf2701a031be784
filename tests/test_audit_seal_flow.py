"""The seal-ledger flow on Prefect's test harness, against moto's Object Lock bucket."""

from __future__ import annotations

import pytest

from modelsteward.audit import AuditAction, Ledger
from modelsteward.objectstore import LockedBucket


@pytest.mark.slow
def test_seal_ledger_flow_seals_and_verifies(settings, prefect_harness) -> None:
    from flows.seal_ledger import SealRequest, seal_ledger

    with Ledger.from_settings(settings) as ledger:
        for i in range(3):
            ledger.append(
                action=AuditAction.QUALITY_CHECKED, actor="system", role="system", details={"i": i}
            )
    result = seal_ledger(SealRequest(force=True))
    assert result["sealed"]["sealed_through"] == 3
    assert result["verified"]["ok"] is True and result["verified"]["segments_verified"] == 1
    assert LockedBucket.from_settings(settings).list_keys("audit/segments/") == [
        "audit/segments/000000000001-000000000003.jsonl"
    ]
    again = seal_ledger(SealRequest())  # nothing closed yet: seals nothing, still verifies
    assert again["sealed"]["sealed"] == [] and again["verified"]["ok"] is True
