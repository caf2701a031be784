"""Compliance reports, built only from a verified audit ledger.

"Every model change last quarter, who approved it, the risk assessment": a report covers a
period and lists, per model, its accountable roles and every governance event in the period
(registrations, approvals with approver and risk assessment, promotions, drift incidents with
severity, alerts, kills with actor and reason, re-enables), plus which version was serving at
any time in the period, reconstructed from the ledger (including the state carried in from
before the period).

:func:`build_report` is pure (records in, :class:`ComplianceReport` out); the renderers turn
it into JSON, CSV, Markdown or a self-contained HTML page; :func:`write_report` writes
atomically, so a failure never leaves a partial file.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ComplianceReport",
    "ReportEvent",
    "ServingInterval",
    "build_report",
    "parse_period",
    "render",
    "write_report",
]

Format = Literal["html", "md", "csv", "json"]

# action -> the category a compliance reader looks for
_CATEGORIES: dict[str, str] = {
    "model.registered": "registration",
    "artifact.signed": "artifact",
    "artifact.stored": "artifact",
    "artifact.verified": "artifact",
    "artifact.rejected": "security",
    "artifact.scanned": "artifact",
    "baseline.recorded": "baseline",
    "approval.requested": "approval",
    "approval.granted": "approval",
    "approval.rejected": "approval",
    "model.promoted": "promotion",
    "onboarding.failed": "onboarding",
    "quality.checked": "monitoring",
    "drift.evaluated": "monitoring",
    "performance.evaluated": "monitoring",
    "alert.sent": "alert",
    "alert.failed": "alert",
    "model.disabled": "kill",
    "model.enabled": "re-enable",
    "access.refused": "security",
    "webhook.received": "incident",
    "token.created": "access",
    "report.generated": "report",
    "ledger.sealed": "ledger",
}
# categories that change a model (the "model changes" count)
_CHANGES = {"registration", "approval", "promotion", "kill", "re-enable"}
_INCIDENT_SEVERITIES = {"warning", "critical"}


def _field(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_period(
    start: str | date | datetime, end: str | date | datetime
) -> tuple[datetime, datetime]:
    """``[start, end]`` as UTC datetimes; a date ``end`` includes that whole day.

    Raises ``ValueError`` naming the bad bound; an inverted period is refused.
    """

    def one(value: str | date | datetime, name: str, *, end_of_day: bool) -> datetime:
        if isinstance(value, datetime):
            return _timestamp(value)
        if isinstance(value, date):
            moment = time.max if end_of_day else time.min
            return datetime.combine(value, moment, tzinfo=UTC)
        try:
            if len(value) == 10:
                return one(date.fromisoformat(value), name, end_of_day=end_of_day)
            return _timestamp(value)
        except ValueError as err:
            raise ValueError(
                f"--{name}: got {value!r}, expected a date (2026-07-01) or an ISO 8601 time"
            ) from err

    lower = one(start, "from", end_of_day=False)
    upper = one(end, "to", end_of_day=True)
    if upper < lower:
        raise ValueError(
            f"the period is inverted: --from {lower.isoformat()} is after --to {upper.isoformat()}"
        )
    return lower, upper


@dataclass(frozen=True)
class ReportEvent:
    seq: int
    ts: str
    model: str
    version: str | None
    category: str
    action: str
    actor: str
    role: str
    summary: str
    details: dict[str, Any]


@dataclass(frozen=True)
class ServingInterval:
    model: str
    version: str | None
    state: Literal["serving", "disabled", "not serving"]
    start: str
    end: str
    reason: str = ""


@dataclass
class ModelSection:
    model: str
    roles: dict[str, str] = field(default_factory=dict)
    events: list[ReportEvent] = field(default_factory=list)
    serving: list[ServingInterval] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for event in self.events:
            counts[event.category] = counts.get(event.category, 0) + 1
        return counts


@dataclass
class ComplianceReport:
    period_start: str
    period_end: str
    generated_at: str
    ledger: dict[str, Any]
    models: list[ModelSection]

    @property
    def totals(self) -> dict[str, int]:
        events = [e for m in self.models for e in m.events]
        return {
            "events": len(events),
            "model_changes": sum(e.category in _CHANGES for e in events),
            "approvals": sum(e.action == "approval.granted" for e in events),
            "rejections": sum(e.action == "approval.rejected" for e in events),
            # one drift.evaluated record per evaluation, whatever was checked
            "incidents": sum(
                e.action == "drift.evaluated" and e.details.get("severity") in _INCIDENT_SEVERITIES
                for e in events
            ),
            "kills": sum(e.action == "model.disabled" for e in events),
            "re_enables": sum(e.action == "model.enabled" for e in events),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": {"from": self.period_start, "to": self.period_end},
            "generated_at": self.generated_at,
            "ledger": self.ledger,
            "totals": self.totals,
            "models": [
                {
                    "model": m.model,
                    "roles": m.roles,
                    "counts": m.counts,
                    "serving": [asdict(s) for s in m.serving],
                    "events": [asdict(e) for e in m.events],
                }
                for m in self.models
            ],
        }


def _summary(action: str, details: Mapping[str, Any]) -> str:
    d = details
    if action == "approval.granted":
        return f"approved; risk assessment: {d.get('risk_assessment') or '(none given)'}"
    if action == "approval.rejected":
        return f"rejected: {d.get('reason') or d.get('comment') or d.get('risk_assessment') or ''}"
    if action == "model.disabled":
        return f"killed: {d.get('reason', '')}"
    if action == "model.enabled":
        return f"re-enabled: {d.get('reason', '')}"
    if action in ("drift.evaluated", "quality.checked", "performance.evaluated"):
        parts = [f"severity {d.get('severity', 'none')}"]
        for key in ("drift_share", "drifted_columns", "passed", "failed_expectations"):
            if key in d:
                parts.append(f"{key} {d[key]}")
        return "; ".join(str(p) for p in parts)
    if action.startswith("alert."):
        return f"{d.get('kind', 'alert')} {d.get('severity', '')} to {d.get('channel') or d.get('recipient', '?')}"
    if action == "model.promoted":
        return f"alias {d.get('alias', 'champion')} -> version"
    interesting = {k: v for k, v in d.items() if isinstance(v, str | int | float | bool)}
    return ", ".join(f"{k}={v}" for k, v in list(interesting.items())[:4])


def _roles_from(record: Any) -> dict[str, str]:
    details = _field(record, "details") or {}
    roles: dict[str, str] = {}
    for role in ("owner", "guardian", "operator"):
        value = details.get(role) if isinstance(details, Mapping) else None
        if isinstance(value, Mapping):
            value = value.get("email") or value.get("name")
        if isinstance(value, str) and value:
            roles[role] = value
    return roles


def build_report(
    records: Iterable[Any],
    start: datetime,
    end: datetime,
    *,
    ledger_summary: Mapping[str, Any] | None = None,
    roles: Mapping[str, Mapping[str, str]] | None = None,
    now: datetime | None = None,
) -> ComplianceReport:
    """The report for ``[start, end]`` from ledger records in ``seq`` order.

    ``records`` must come from a ledger that was verified first; records before ``start`` are
    read too, to know which version was serving when the period began. ``roles`` (model ->
    role -> contact) overrides what the ledger says about each model's accountable roles.
    """
    sections: dict[str, ModelSection] = {}
    # serving state per model: (state, version, since, reason)
    state: dict[str, tuple[str, str | None, datetime, str]] = {}
    timeline: dict[str, list[ServingInterval]] = {}

    def close(model: str, at: datetime) -> None:
        current = state.get(model)
        if current is None:
            return
        kind, version, since, reason = current
        lo, hi = max(since, start), min(at, end)
        if hi > lo or (hi == lo and at > end):
            timeline.setdefault(model, []).append(
                ServingInterval(model, version, kind, lo.isoformat(), hi.isoformat(), reason)  # type: ignore[arg-type]
            )

    for record in records:
        model = _field(record, "model")
        if not model:
            continue
        ts = _timestamp(_field(record, "ts"))
        action = str(_field(record, "action"))
        details = dict(_field(record, "details") or {})
        version = _field(record, "version")
        section = sections.setdefault(model, ModelSection(model))
        section.roles.update(_roles_from(record))
        if ts > end:
            continue
        # serving timeline
        transition: tuple[str, str | None, str] | None = None
        previous = state.get(model)
        if action == "model.promoted":
            transition = ("serving", version, "promoted")
        elif action == "model.disabled":
            transition = (
                "disabled",
                version or (previous[1] if previous else None),
                str(details.get("reason", "")),
            )
        elif action == "model.enabled":
            transition = (
                "serving",
                version or (previous[1] if previous else None),
                str(details.get("reason", "re-enabled")),
            )
        if transition is not None:
            close(model, ts)
            state[model] = (transition[0], transition[1], ts, transition[2])
        if ts < start:
            continue
        section.events.append(
            ReportEvent(
                seq=int(_field(record, "seq")),
                ts=ts.isoformat(),
                model=model,
                version=None if version is None else str(version),
                category=_CATEGORIES.get(action, "other"),
                action=action,
                actor=str(_field(record, "actor")),
                role=str(_field(record, "role")),
                summary=_summary(action, details),
                details=details,
            )
        )
    for model in list(state):
        close(model, end)
    for model, section in sections.items():
        section.serving = timeline.get(model, [])
        if not section.serving:
            section.serving = [
                ServingInterval(model, None, "not serving", start.isoformat(), end.isoformat())
            ]
        if roles and model in roles:
            section.roles.update(roles[model])
    models = [
        s
        for s in sorted(sections.values(), key=lambda s: s.model)
        if s.events or s.serving[0].state != "not serving"
    ]
    return ComplianceReport(
        period_start=start.isoformat(),
        period_end=end.isoformat(),
        generated_at=(now or datetime.now(UTC)).isoformat(),
        ledger=dict(ledger_summary or {}),
        models=models,
    )


# --- renderers --------------------------------------------------------------------------------


def _json(report: ComplianceReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str) + "\n"


def _csv(report: ComplianceReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "seq",
            "ts",
            "model",
            "version",
            "category",
            "action",
            "actor",
            "role",
            "summary",
            "owner",
            "guardian",
            "operator",
        ]
    )
    for section in report.models:
        for e in section.events:
            writer.writerow(
                [
                    e.seq,
                    e.ts,
                    e.model,
                    e.version or "",
                    e.category,
                    e.action,
                    e.actor,
                    e.role,
                    e.summary,
                    section.roles.get("owner", ""),
                    section.roles.get("guardian", ""),
                    section.roles.get("operator", ""),
                ]
            )
    return out.getvalue()


def _md_cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _markdown(report: ComplianceReport) -> str:
    lines = [
        "# Model governance compliance report",
        "",
        f"Period: **{report.period_start}** to **{report.period_end}**  ",
        f"Generated: {report.generated_at}  ",
        f"Ledger: {_md_cell(_ledger_line(report.ledger))}",
        "",
        "| " + " | ".join(report.totals) + " |",
        "|" + "---|" * len(report.totals),
        "| " + " | ".join(str(v) for v in report.totals.values()) + " |",
        "",
    ]
    if not report.models:
        lines += ["No governance events were recorded in this period.", ""]
    for section in report.models:
        lines += [f"## {section.model}", ""]
        lines += [f"- **{role.title()}**: {_md_cell(who)}" for role, who in section.roles.items()]
        lines += [
            "",
            "### Serving",
            "",
            "| from | to | state | version | reason |",
            "|---|---|---|---|---|",
        ]
        for s in section.serving:
            lines.append(
                f"| {s.start} | {s.end} | {s.state} | {_md_cell(s.version)} | {_md_cell(s.reason)} |"
            )
        lines += [
            "",
            "### Events",
            "",
            "| seq | time | category | action | version | actor (role) | summary |",
            "|---|---|---|---|---|---|---|",
        ]
        for e in section.events:
            lines.append(
                f"| {e.seq} | {e.ts} | {e.category} | {e.action} | {_md_cell(e.version)} | "
                f"{_md_cell(e.actor)} ({e.role}) | {_md_cell(e.summary)} |"
            )
        lines.append("")
    return "\n".join(lines)


def _ledger_line(ledger: Mapping[str, Any]) -> str:
    if not ledger:
        return "not stated"
    parts = [f"{k}={v}" for k, v in ledger.items()]
    return ", ".join(parts)


_CSS = "\n".join(
    [
        "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2330;padding:0 1rem}",
        "h1{font-size:1.6rem;margin-bottom:.2rem}",
        "h2{margin-top:2.2rem;border-bottom:2px solid #e3e7ee;padding-bottom:.3rem}",
        ".meta{color:#5b6478}",
        ".ok{color:#17703a;font-weight:600}",
        "table{border-collapse:collapse;width:100%;margin:.6rem 0 1.2rem}",
        "th,td{border-bottom:1px solid #e3e7ee;padding:.35rem .5rem;text-align:left;vertical-align:top}",
        "th{background:#f4f6fa;font-weight:600}",
        ".cards{display:flex;gap:.8rem;flex-wrap:wrap;margin:1rem 0}",
        ".card{background:#f4f6fa;border-radius:8px;padding:.6rem 1rem;min-width:7rem}",
        ".card b{display:block;font-size:1.4rem}",
        ".roles{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}",
        ".timeline{display:flex;height:26px;border-radius:6px;overflow:hidden;margin:.4rem 0 .2rem;border:1px solid #d5dbe5}",
        ".seg{height:100%}",
        ".serving{background:#3aa76d}",
        ".disabled{background:#d64545}",
        ".not-serving{background:#c9ced8}",
        ".legend span{display:inline-block;margin-right:1rem}",
        ".legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:middle}",
        ".cat{font-size:.78rem;padding:.05rem .45rem;border-radius:9px;background:#e8ecf3;white-space:nowrap}",
        ".cat-kill{background:#fbe0e0}",
        ".cat-approval{background:#e1f3e8}",
        ".cat-monitoring{background:#fff1d6}",
        ".cat-security{background:#fbe0e0}",
    ]
)


def _h(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _html(report: ComplianceReport) -> str:
    start, end = _timestamp(report.period_start), _timestamp(report.period_end)
    span = max((end - start).total_seconds(), 1.0)
    cards = "".join(
        f'<div class="card"><b>{v}</b>{_h(k.replace("_", " "))}</div>'
        for k, v in report.totals.items()
    )
    body = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>Compliance report {_h(report.period_start[:10])} to {_h(report.period_end[:10])}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Model governance compliance report</h1>",
        f'<p class="meta">Period {_h(report.period_start)} to {_h(report.period_end)} · '
        f"generated {_h(report.generated_at)}</p>",
        f'<p>Audit ledger: <span class="ok">{_h(_ledger_line(report.ledger))}</span></p>',
        f'<div class="cards">{cards}</div>',
    ]
    if not report.models:
        body.append("<p>No governance events were recorded in this period.</p>")
    for section in report.models:
        body.append(f"<section><h2>{_h(section.model)}</h2><div class=roles>")
        for role, who in section.roles.items():
            body.append(f"<b>{_h(role.title())}</b><span>{_h(who)}</span>")
        body.append("</div><h3>Serving timeline</h3><div class=timeline>")
        for s in section.serving:
            width = max((_timestamp(s.end) - _timestamp(s.start)).total_seconds() / span * 100, 0.4)
            label = f"{s.state} v{s.version or '-'} {s.start} → {s.end} {s.reason}"
            body.append(
                f'<div class="seg {s.state.replace(" ", "-")}" style="width:{width:.2f}%" title="{_h(label)}"></div>'
            )
        body.append(
            "</div><p class=legend><span><i class=serving></i>serving</span>"
            "<span><i class=disabled></i>disabled</span><span><i class=not-serving></i>not serving</span></p>"
        )
        body.append(
            "<table><tr><th>from</th><th>to</th><th>state</th><th>version</th><th>reason</th></tr>"
        )
        for s in section.serving:
            body.append(
                f"<tr><td>{_h(s.start)}</td><td>{_h(s.end)}</td><td>{_h(s.state)}</td>"
                f"<td>{_h(s.version)}</td><td>{_h(s.reason)}</td></tr>"
            )
        body.append(
            "</table><h3>Events</h3><table><tr><th>seq</th><th>time (UTC)</th><th>category</th>"
            "<th>action</th><th>version</th><th>actor</th><th>summary</th></tr>"
        )
        for e in section.events:
            body.append(
                f"<tr><td>{e.seq}</td><td>{_h(e.ts)}</td>"
                f'<td><span class="cat cat-{_h(e.category)}">{_h(e.category)}</span></td>'
                f"<td>{_h(e.action)}</td><td>{_h(e.version)}</td>"
                f"<td>{_h(e.actor)} <small>({_h(e.role)})</small></td><td>{_h(e.summary)}</td></tr>"
            )
        body.append("</table></section>")
    body.append("</body></html>\n")
    return "\n".join(body)


_RENDERERS = {"json": _json, "csv": _csv, "md": _markdown, "html": _html}


def render(report: ComplianceReport, fmt: Format) -> str:
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}; expected one of html, md, csv, json"
        ) from None
    return renderer(report)


def write_report(report: ComplianceReport, fmt: Format, out: str | os.PathLike[str]) -> Path:
    """Render and write atomically (temp file in the same directory, then rename)."""
    path = Path(out)
    text = render(report, fmt)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OSError(f"{path}: the directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def report_from_ledger(settings: Any, start: datetime, end: datetime) -> ComplianceReport:
    """Verify the ledger of ``settings`` (and its sealed copies when S3 is reachable), then
    build the report. A broken ledger raises ``LedgerIntegrityError`` naming the first bad seq:
    nobody gets a report from evidence that was tampered with.
    """
    from modelsteward.audit import Ledger
    from modelsteward.policy import load_policy_dir

    bucket = None
    if not settings.embedded_s3:
        from modelsteward.objectstore import LockedBucket

        bucket = LockedBucket.from_settings(settings)
    with Ledger.from_settings(settings) as ledger:
        verified = ledger.verify(bucket).raise_if_broken()
        roles: dict[str, dict[str, str]] = {}
        if settings.policy_dir.is_dir():
            for name, policy in load_policy_dir(settings.policy_dir).items():
                roles[name] = {
                    role: f"{contact.name} <{contact.email}>"
                    for role, contact in (
                        ("owner", policy.roles.owner),
                        ("guardian", policy.roles.guardian),
                        ("operator", policy.roles.operator),
                    )
                }
        summary = {
            "verified": True,
            "records": verified.records,
            "last_seq": verified.last_seq,
            "checkpoints": verified.checkpoints,
            "sealed_segments": verified.segments,
        }
        return build_report(
            ledger.records(until=end), start, end, ledger_summary=summary, roles=roles
        )
