"""Tasks of the compliance report: one core call each, no retries (integrity is not flaky)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task

from modelsteward.reporting import ComplianceReport, report_from_ledger, write_report
from modelsteward.settings import StewardSettings


@task(name="verify-ledger-and-build-report")
def build_verified_report(
    settings: StewardSettings, start: datetime, end: datetime
) -> ComplianceReport:
    """Verify the whole ledger, then build the report; a broken ledger fails the task."""
    return report_from_ledger(settings, start, end)


@task(name="write-compliance-report")
def write(report: ComplianceReport, fmt: str, out: Path) -> str:
    return str(write_report(report, fmt, out))  # type: ignore[arg-type]
