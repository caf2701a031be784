"""compliance-report: verify the ledger, then report every governance event of a period.

Runs quarterly (``prefect.yaml``) and on demand (UI form, ``steward report``). A broken ledger
stops the flow before anything is written, naming the first bad record.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field, model_validator

from modelsteward.reporting import parse_period
from modelsteward.settings import load_settings
from tasks.reporting import build_verified_report, write

ReportFormat = Literal["html", "md", "csv", "json"]


def previous_quarter(today: date) -> tuple[date, date]:
    """The last full calendar quarter before ``today``."""
    first_month = 3 * ((today.month - 1) // 3) + 1
    this_quarter = date(today.year, first_month, 1)
    end = this_quarter - timedelta(days=1)
    start = date(end.year, 3 * ((end.month - 1) // 3) + 1, 1)
    return start, end


class ReportRequest(BaseModel):
    """What to report on. Empty dates mean the previous full quarter."""

    period_from: date | None = Field(default=None, description="First day (UTC) of the period.")
    period_to: date | None = Field(default=None, description="Last day (UTC), inclusive.")
    formats: list[ReportFormat] = Field(default_factory=lambda: ["html", "md", "csv", "json"])
    out_dir: str | None = Field(
        default=None, description="Directory for the files; default $STEWARD_HOME/reports."
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> ReportRequest:
        if (self.period_from is None) != (self.period_to is None):
            raise ValueError("give both period_from and period_to, or neither")
        return self

    def period(self, today: date | None = None) -> tuple[date, date]:
        if self.period_from and self.period_to:
            return self.period_from, self.period_to
        return previous_quarter(today or datetime.now(UTC).date())


@flow(name="compliance-report", log_prints=False)
def compliance_report(request: ReportRequest | None = None) -> dict[str, str]:
    """Verify the audit ledger and write the compliance report for a period."""
    request = request or ReportRequest()
    logger = get_run_logger()
    settings = load_settings()
    first, last = request.period()
    start, end = parse_period(first, last)
    report = build_verified_report(settings, start, end)
    out_dir = Path(request.out_dir) if request.out_dir else settings.reports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"compliance-{first.isoformat()}_{last.isoformat()}"
    paths = {fmt: write(report, fmt, out_dir / f"{stem}.{fmt}") for fmt in request.formats}

    from modelsteward.audit import AuditAction, Ledger

    Ledger.from_settings(settings).append(
        action=AuditAction.REPORT_GENERATED,
        actor="compliance-report",
        role="system",
        details={
            "from": first.isoformat(),
            "to": last.isoformat(),
            "files": paths,
            "totals": report.totals,
        },
    )
    totals = report.totals
    rows = "\n".join(f"| {k.replace('_', ' ')} | {v} |" for k, v in totals.items())
    files = "\n".join(f"- {fmt}: `{path}`" for fmt, path in paths.items())
    create_markdown_artifact(
        key="compliance-report",
        markdown=f"# Compliance report {first} to {last}\n\nLedger verified "
        f"({report.ledger.get('records', '?')} records).\n\n| item | count |\n|---|---|\n"
        f"{rows}\n\n{files}\n",
        description=f"Compliance report {first} to {last}",
    )
    logger.info("event=report_written from=%s to=%s files=%d", first, last, len(paths))
    return paths
