"""Compliance reports from ledger records: content, serving timeline, formats, atomic writes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelsteward.reporting import build_report, parse_period, render, write_report


def rec(
    seq: int,
    ts: str,
    action: str,
    model: str = "fraud-detector",
    version: str | None = "1",
    actor: str = "system",
    role: str = "system",
    **details: object,
) -> dict:
    return {
        "seq": seq,
        "ts": ts,
        "action": action,
        "model": model,
        "version": version,
        "actor": actor,
        "role": role,
        "details": details,
    }


RECORDS = [
    rec(
        1,
        "2026-06-20T10:00:00+00:00",
        "model.registered",
        owner="dana@example.com",
        guardian="sec@example.com",
        operator="ops@example.com",
    ),
    rec(
        2,
        "2026-06-21T10:00:00+00:00",
        "approval.granted",
        actor="sec@example.com",
        role="guardian",
        risk_assessment="Low residual risk after bias review",
    ),
    rec(3, "2026-06-21T10:00:01+00:00", "model.promoted", alias="champion"),
    rec(4, "2026-07-02T08:00:00+00:00", "drift.evaluated", severity="none", drift_share=0.0),
    rec(5, "2026-07-03T08:00:00+00:00", "drift.evaluated", severity="critical", drift_share=0.8),
    rec(
        6,
        "2026-07-03T08:00:02+00:00",
        "model.disabled",
        actor="steward-monitor",
        reason="critical drift: 80% of columns drifted",
    ),
    rec(7, "2026-07-10T09:00:00+00:00", "registration", version="2"),
    rec(8, "2026-07-10T09:00:00+00:00", "model.registered", version="2"),
    rec(
        9,
        "2026-07-11T09:00:00+00:00",
        "approval.rejected",
        version="2",
        actor="sec@example.com",
        role="guardian",
        reason="no fairness evaluation",
    ),
    rec(
        10,
        "2026-07-20T09:00:00+00:00",
        "model.enabled",
        actor="sec@example.com",
        role="guardian",
        reason="false alarm: upstream feed fixed",
    ),
    rec(11, "2026-10-02T09:00:00+00:00", "model.disabled", reason="after the period"),
    rec(12, "2026-07-05T09:00:00+00:00", "model.registered", model="other-model"),
]


def quarter():
    return parse_period("2026-07-01", "2026-09-30")


def test_report_lists_changes_approvals_incidents_and_kills() -> None:
    start, end = quarter()
    report = build_report(RECORDS, start, end, ledger_summary={"verified": True, "records": 12})
    data = report.to_dict()
    assert [m["model"] for m in data["models"]] == ["fraud-detector", "other-model"]
    fraud = data["models"][0]
    assert fraud["roles"] == {
        "owner": "dana@example.com",
        "guardian": "sec@example.com",
        "operator": "ops@example.com",
    }
    seqs = [e["seq"] for e in fraud["events"]]
    assert seqs == [4, 5, 6, 7, 8, 9, 10], "events before and after the period are left out"
    assert data["totals"]["kills"] == 1
    assert data["totals"]["incidents"] == 1
    assert data["totals"]["rejections"] == 1
    assert data["totals"]["re_enables"] == 1
    kill = next(e for e in fraud["events"] if e["action"] == "model.disabled")
    assert kill["actor"] == "steward-monitor" and "80% of columns" in kill["summary"]


def test_serving_timeline_carries_state_in_from_before_the_period() -> None:
    start, end = quarter()
    fraud = build_report(RECORDS, start, end).models[0]
    states = [(s.state, s.version, s.start[:10], s.end[:10]) for s in fraud.serving]
    assert states == [
        ("serving", "1", "2026-07-01", "2026-07-03"),
        ("disabled", "1", "2026-07-03", "2026-07-20"),
        ("serving", "1", "2026-07-20", "2026-09-30"),
    ]


def test_empty_period_says_so_in_every_format() -> None:
    start, end = parse_period("2025-01-01", "2025-01-31")
    report = build_report(RECORDS, start, end)
    assert report.models == []
    assert "No governance events" in render(report, "md")
    assert "No governance events" in render(report, "html")
    assert json.loads(render(report, "json"))["totals"]["events"] == 0
    assert render(report, "csv").count("\n") == 1  # header only


def test_approval_with_risk_assessment_in_every_format() -> None:
    start, end = parse_period("2026-06-01", "2026-06-30")
    report = build_report(RECORDS, start, end)
    for fmt in ("html", "md", "csv", "json"):
        assert "Low residual risk after bias review" in render(report, fmt), fmt
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    approval = next(r for r in rows if r["action"] == "approval.granted")
    assert approval["actor"] == "sec@example.com" and approval["owner"] == "dana@example.com"


def test_html_escapes_ledger_content() -> None:
    records = [
        rec(1, "2026-07-02T00:00:00+00:00", "model.disabled", reason="<script>alert(1)</script>")
    ]
    page = render(build_report(records, *quarter()), "html")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-09-30", "2026-07-01", "inverted"),
        ("last quarter", "2026-07-01", "--from: got 'last quarter'"),
        ("2026-07-01", "2026-13-01", "--to: got"),
    ],
)
def test_bad_periods_are_refused(start: str, end: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_period(start, end)


def test_period_end_date_includes_the_whole_day() -> None:
    start, end = parse_period("2026-07-01", "2026-07-01")
    assert start == datetime(2026, 7, 1, tzinfo=UTC)
    assert end.hour == 23 and end.minute == 59


def test_write_is_atomic_and_refuses_missing_directory(tmp_path: Path) -> None:
    report = build_report(RECORDS, *quarter())
    out = write_report(report, "html", tmp_path / "q3.html")
    assert out.read_text().startswith("<!doctype html>")
    with pytest.raises(OSError, match="does not exist"):
        write_report(report, "md", tmp_path / "missing" / "q3.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q3.html"]


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        render(build_report([], *quarter()), "pdf")  # type: ignore[arg-type]


def test_kill_follow_up_steps_are_not_counted_as_kills() -> None:
    records = [
        rec(1, "2026-07-02T00:00:00+00:00", "model.promoted"),
        rec(2, "2026-07-03T00:00:00+00:00", "model.disabled", reason="drift"),
        rec(
            3,
            "2026-07-03T00:00:05+00:00",
            "model.disabled",
            reason="drift",
            step="registry",
            alias="champion",
            alias_removed_from="1",
        ),
    ]
    report = build_report(records, *quarter())
    assert report.totals["kills"] == 1
    fraud = report.models[0]
    assert [s.state for s in fraud.serving] == ["serving", "disabled"]
    assert fraud.events[-1].summary == "registry step: alias champion removed (was v1)"


def test_approvals_say_whether_the_approver_signed() -> None:
    start, end = quarter()
    records = [
        rec(1, "2026-07-01T10:00:00+00:00", "approval.granted", actor="sec@example.com"),
        rec(
            2,
            "2026-07-02T10:00:00+00:00",
            "approval.granted",
            actor="sec@example.com",
            signed=True,
            approver_key_id="0123456789abcdef",
            risk_assessment="low",
        ),
    ]
    data = build_report(records, start, end, ledger_summary={"verified": True}).to_dict()
    assert data["totals"]["approvals"] == 2 and data["totals"]["unsigned_approvals"] == 1
    summaries = [e["summary"] for e in data["models"][0]["events"]]
    assert summaries[0].startswith("approved (unsigned)")
    assert summaries[1] == "approved (signed, key 0123456789abcdef); risk assessment: low"
