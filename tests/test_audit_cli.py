"""``steward audit``: verify, log, export, seal through the real CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from modelsteward.audit import AuditAction, Ledger
from modelsteward.cli import cli


@pytest.fixture
def filled(settings) -> Ledger:
    ledger = Ledger.from_settings(settings)
    ledger.append(
        action=AuditAction.MODEL_REGISTERED,
        actor="olivia@example.com",
        role="owner",
        model="fraud-detector",
        version="1",
    )
    ledger.append(
        action=AuditAction.APPROVAL_GRANTED,
        actor="gina@example.com",
        role="guardian",
        model="fraud-detector",
        version="1",
        details={"risk_assessment": "low"},
    )
    ledger.append(
        action=AuditAction.MODEL_DISABLED, actor="pagerduty", role="pagerduty", model="churn"
    )
    ledger.close()
    return ledger


def test_verify_exits_0_when_intact(filled: Ledger) -> None:
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "ok  3 records, last seq 3" in result.output
    assert CliRunner().invoke(cli, ["audit", "verify", "--strict", "--local"]).exit_code == 0


def test_verify_exits_4_naming_the_first_bad_record(filled: Ledger) -> None:
    lines = filled.path.read_bytes().rstrip(b"\0").splitlines(keepends=True)
    filled.path.write_bytes(lines[0] + lines[2])
    result = CliRunner().invoke(cli, ["audit", "verify", "--json"])
    assert result.exit_code == 4
    report = json.loads(result.stdout)
    assert (report["ok"], report["first_bad_seq"], report["reason"]) == (False, 2, "missing")
    assert "broken at seq 2 (missing)" in result.stderr


def test_log_filters_and_prints_json(filled: Ledger) -> None:
    result = CliRunner().invoke(cli, ["audit", "log", "--model", "fraud-detector", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["seq"] for r in records] == [1, 2]
    assert records[1]["details"] == {"risk_assessment": "low"}
    result = CliRunner().invoke(cli, ["audit", "log", "--action", "model.disabled"])
    assert "churn" in result.output and "pagerduty (pagerduty)" in result.output
    result = CliRunner().invoke(cli, ["audit", "log", "--since", "2999-01-01", "--json"])
    assert json.loads(result.stdout) == []
    result = CliRunner().invoke(cli, ["audit", "log", "--limit", "1", "--json"])
    assert [r["seq"] for r in json.loads(result.stdout)] == [3]


def test_log_refuses_a_bad_date(filled: Ledger) -> None:
    result = CliRunner().invoke(cli, ["audit", "log", "--since", "last tuesday"])
    assert result.exit_code == 2
    assert "expected an ISO 8601 date" in result.output


def test_export_writes_json_lines(filled: Ledger, tmp_path) -> None:
    out = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(cli, ["audit", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == filled.path.read_bytes().rstrip(b"\0")
    assert [json.loads(line)["seq"] for line in out.read_text().splitlines()] == [1, 2, 3]


def test_seal_then_verify_checks_the_bucket(filled: Ledger) -> None:
    result = CliRunner().invoke(cli, ["audit", "seal", "--force", "--json"])
    assert result.exit_code == 0, result.output
    sealed = json.loads(result.stdout)
    assert sealed["sealed_through"] == 3
    result = CliRunner().invoke(cli, ["audit", "verify", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["records"], report["checkpoints_verified"], report["segments_verified"]) == (
        4,
        1,
        1,
    )
