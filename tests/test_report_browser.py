"""The compliance report's HTML page, checked as a reader gets it.

With Debian's ``chromium`` installed, ``scripts/check_report_html.sh`` renders the page in
headless Chromium (screenshot + the DOM Chromium built) and checks its structure and that it is
self-contained. Without it, the same checks (``scripts/report_dom_check.py``) run on the rendered
HTML with Python's ``html.parser``: never a silent skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reporting import RECORDS, quarter, rec

from modelsteward.reporting import build_report, parse_period, render

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_report_html.sh"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _checker() -> ModuleType:
    path = ROOT / "scripts" / "report_dom_check.py"
    spec = importlib.util.spec_from_file_location("report_dom_check", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("report_dom_check", module)
    spec.loader.exec_module(module)
    return module


check = _checker().check_report_dom


def quarter_page() -> str:
    return render(build_report(RECORDS, *quarter(), ledger_summary={"verified": True}), "html")


def in_browser(page: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    report = tmp_path / "report.html"
    report.write_text(page, encoding="utf-8")
    return subprocess.run(
        ["bash", str(SCRIPT), str(report), str(tmp_path / "shot.png"), "--", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_page_has_every_section_and_is_self_contained(tmp_path: Path) -> None:
    page = quarter_page()
    models = ("--model", "fraud-detector", "--model", "other-model")
    if CHROMIUM:
        result = in_browser(page, tmp_path, *models)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok title 'Compliance report 2026-07-01 to 2026-09-30'; 2 model(s)" in result.stdout
        shot = tmp_path / "shot.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    else:
        assert check(page, models=["fraud-detector", "other-model"]) == []


def test_empty_period_page_in_the_same_checks(tmp_path: Path) -> None:
    page = render(build_report(RECORDS, *parse_period("2025-01-01", "2025-01-31")), "html")
    if CHROMIUM:
        result = in_browser(page, tmp_path, "--empty")
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert check(page, empty=True) == []
    assert check(page) == ["models: no section.model in the page"]


def test_browser_check_fails_on_a_page_that_loads_something(tmp_path: Path) -> None:
    page = quarter_page().replace(
        "</head>", '<link rel="stylesheet" href="https://cdn.example.com/x.css"></head>'
    )
    if CHROMIUM:
        result = in_browser(page, tmp_path)
        assert result.returncode == 1
        assert (
            "FAIL external resource: <link href='https://cdn.example.com/x.css'>" in result.stdout
        )
    else:
        assert check(page) == ["external resource: <link href='https://cdn.example.com/x.css'>"]


@pytest.mark.parametrize(
    ("needle", "replacement", "problem"),
    [
        ("</body>", '<script src="//cdn.example.com/a.js"></script></body>', "script: got 1"),
        ("</body>", '<img src="http://x.example/p.png"></body>', "<img src='http://x.example"),
        ("</style>", "@import 'https://f.example/f.css';</style>", "stylesheet url"),
        ("</style>", ".x{background:url(http://x.example/b.png)}</style>", "stylesheet url"),
        ('data-role="guardian"', 'data-role="someone"', "roles ['guardian'] not shown"),
        ('class="events"', 'class="log"', "events table: got 0"),
        ('class="timeline"', 'class="line"', "serving timeline incomplete"),
        ('class="axis"', 'class="nothing"', "0 dated axis ticks"),
        ('id="totals"', 'id="sums"', "totals: got 0 #totals"),
        ("<h1>", "<h1>x</h1><h1>", "h1: got 2"),
    ],
)
def test_dom_check_catches_what_a_reader_would_miss(
    needle: str, replacement: str, problem: str
) -> None:
    page = quarter_page()
    assert needle in page, needle
    problems = check(page.replace(needle, replacement, 1))
    assert any(problem in p for p in problems), problems


def test_page_marks_kills_approvals_and_incidents_for_the_reader() -> None:
    page = quarter_page()
    assert "How to read this report" in page and "@media print" in page
    # the kill row, the incident row and the re-enable row each carry their colour
    assert page.count('class="tone-kill"><td class="num">6</td>') == 1
    assert page.count('class="tone-warn"><td class="num">5</td>') == 1
    assert page.count('class="tone-good"><td class="num">10</td>') == 1
    assert '<span class="missing">not recorded</span>' in page  # other-model has no roles
    # serving timeline: killed on 3 July, back on 20 July, with dated axis
    assert "v1 disabled: 2026-07-03 08:00:02 to 2026-07-20 09:00:00 UTC" in page
    assert "01 Jul 2026" in page and "30 Sep 2026" in page


def test_activity_in_a_sliver_of_the_period_gets_a_close_up() -> None:
    records = [
        rec(1, "2026-07-02T10:00:00+00:00", "model.promoted"),
        rec(2, "2026-07-02T10:00:30+00:00", "model.disabled", reason="drift"),
    ]
    page = render(build_report(records, *quarter()), "html")
    assert "Close-up of the activity: 2026-07-02 09:59:" in page
    assert check(page, models=["fraud-detector"]) == []


_ACTIONS = [
    "model.registered",
    "approval.granted",
    "approval.rejected",
    "model.promoted",
    "drift.evaluated",
    "alert.sent",
    "model.disabled",
    "model.enabled",
    "access.refused",
    "webhook.received",
]


@st.composite
def ledgers(draw: st.DrawFn) -> list[dict]:
    base = datetime(2026, 6, 15, tzinfo=UTC)
    count = draw(st.integers(0, 12))
    offsets = sorted(draw(st.lists(st.integers(0, 130 * 86400), min_size=count, max_size=count)))
    records = []
    for seq, offset in enumerate(offsets, start=1):
        details: dict[str, object] = {}
        if draw(st.booleans()):
            details["severity"] = draw(st.sampled_from(["none", "warning", "critical"]))
        if draw(st.booleans()):
            details["reason"] = draw(st.text(max_size=20))
        records.append(
            rec(
                seq,
                (base + timedelta(seconds=offset)).isoformat(),
                draw(st.sampled_from(_ACTIONS)),
                model=draw(st.sampled_from(["fraud-detector", "a<b>&c", "modèle 2"])),
                version=draw(st.sampled_from([None, "1", "2"])),
                **details,
            )
        )
    return records


@settings(max_examples=40, deadline=None)
@given(records=ledgers())
def test_any_ledger_renders_a_page_that_passes_the_checks(records: list[dict]) -> None:
    report = build_report(records, *quarter())
    page = render(report, "html")
    names = [m.model for m in report.models]
    assert check(page, models=names, empty=not names) == []
    assert "<b>&c" not in page  # model names are escaped everywhere


def test_script_refuses_a_missing_report_or_browser(tmp_path: Path) -> None:
    missing = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "nope.html")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr
    page = tmp_path / "r.html"
    page.write_text(quarter_page(), encoding="utf-8")
    no_browser = subprocess.run(
        ["bash", str(SCRIPT), str(page)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "CHROMIUM": str(tmp_path / "no-chromium")},
    )
    assert no_browser.returncode == 2 and "apt-get install -y chromium" in no_browser.stderr
