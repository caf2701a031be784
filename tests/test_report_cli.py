"""steward report and the compliance-report flow on a real ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelsteward.audit import AuditAction, Ledger
from modelsteward.cli import cli


def seed(settings) -> None:
    with Ledger.from_settings(settings) as ledger:
        ledger.append(
            action=AuditAction.MODEL_REGISTERED,
            actor="onboard-model",
            role="system",
            model="fraud-detector",
            version="1",
        )
        ledger.append(
            action=AuditAction.APPROVAL_GRANTED,
            actor="ai-security@example.com",
            role="guardian",
            model="fraud-detector",
            version="1",
            details={"risk_assessment": "acceptable after red-team review"},
        )
        ledger.append(
            action=AuditAction.MODEL_PROMOTED,
            actor="onboard-model",
            role="system",
            model="fraud-detector",
            version="1",
            details={"alias": "champion"},
        )
        ledger.append(
            action=AuditAction.MODEL_DISABLED,
            actor="mlops-oncall@example.com",
            role="operator",
            model="fraud-detector",
            version="1",
            details={"reason": "chargebacks spiking"},
        )


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_report_from_the_verified_ledger(settings, tmp_path: Path) -> None:
    seed(settings)
    out = tmp_path / "q.json"
    result = CliRunner().invoke(
        cli, ["report", "--from", today(), "--to", today(), "--format", "json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    fraud = data["models"][0]
    assert fraud["model"] == "fraud-detector"
    assert fraud["roles"]["guardian"] == "AI Security Office <ai-security@example.com>"
    assert [e["action"] for e in fraud["events"]] == [
        "model.registered",
        "approval.granted",
        "model.promoted",
        "model.disabled",
    ]
    assert data["ledger"]["verified"] is True
    assert [s["state"] for s in fraud["serving"]] == ["serving", "disabled"]
    records = list(Ledger.from_settings(settings).records(action="report.generated"))
    assert len(records) == 1 and records[0].details["format"] == "json"


def test_broken_ledger_is_refused_and_nothing_written(settings, tmp_path: Path) -> None:
    seed(settings)
    ledger_file = Ledger.from_settings(settings).path
    text = ledger_file.read_text().replace("chargebacks spiking", "routine maintenance")
    ledger_file.write_text(text)
    out = tmp_path / "q.html"
    result = CliRunner().invoke(
        cli, ["report", "--from", today(), "--to", today(), "--format", "html", "--out", str(out)]
    )
    assert result.exit_code == 4
    assert "seq 4" in result.output and "changed" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("start", "end", "out", "message"),
    [
        ("2026-09-30", "2026-07-01", "r.md", "inverted"),
        ("yesterday", "2026-07-01", "r.md", "--from: got 'yesterday'"),
        ("2026-07-01", "2026-09-30", "missing/r.md", "does not exist"),
    ],
)
def test_bad_requests(
    settings, tmp_path: Path, start: str, end: str, out: str, message: str
) -> None:
    result = CliRunner().invoke(
        cli,
        ["report", "--from", start, "--to", end, "--format", "md", "--out", str(tmp_path / out)],
    )
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.glob("**/r.md")) == []


def test_empty_period(settings, tmp_path: Path) -> None:
    seed(settings)
    long_ago = (datetime.now(UTC) - timedelta(days=400)).date().isoformat()
    out = tmp_path / "empty.md"
    result = CliRunner().invoke(
        cli, ["report", "--from", long_ago, "--to", long_ago, "--format", "md", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "No governance events were recorded in this period." in out.read_text()


@pytest.mark.slow
def test_compliance_report_flow(settings, prefect_harness, tmp_path: Path) -> None:
    from flows.compliance_report import ReportRequest, compliance_report, previous_quarter

    seed(settings)
    request = ReportRequest(
        period_from=datetime.now(UTC).date(),
        period_to=datetime.now(UTC).date(),
        out_dir=str(tmp_path),
    )
    paths = compliance_report(request)
    assert set(paths) == {"html", "md", "csv", "json"}
    html = Path(paths["html"]).read_text()
    assert "acceptable after red-team review" in html and "chargebacks spiking" in html
    assert previous_quarter(datetime(2026, 11, 25).date()) == (
        datetime(2026, 7, 1).date(),
        datetime(2026, 9, 30).date(),
    )
    assert previous_quarter(datetime(2026, 2, 1).date())[0].isoformat() == "2025-10-01"
