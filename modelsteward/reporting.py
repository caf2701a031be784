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
from datetime import UTC, date, datetime, time, timedelta
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
    "ledger.key_rotated": "ledger",
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
            "model_changes": sum(
                e.category in _CHANGES and not _follow_up(e.details) for e in events
            ),
            "approvals": sum(e.action == "approval.granted" for e in events),
            # granted on a typed e-mail alone, without the approver's signature
            "unsigned_approvals": sum(
                e.action == "approval.granted" and e.details.get("signed") is not True
                for e in events
            ),
            "rejections": sum(e.action == "approval.rejected" for e in events),
            # one drift.evaluated record per evaluation, whatever was checked
            "incidents": sum(
                e.action == "drift.evaluated" and e.details.get("severity") in _INCIDENT_SEVERITIES
                for e in events
            ),
            "kills": sum(
                e.action == "model.disabled" and not _follow_up(e.details) for e in events
            ),
            "re_enables": sum(
                e.category == "re-enable" and not _follow_up(e.details) for e in events
            ),
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


def _follow_up(details: Mapping[str, Any]) -> bool:
    """A later step of a kill or re-enable (e.g. the registry), not the switch flip itself."""
    return details.get("step") not in (None, "switch")


def _summary(action: str, details: Mapping[str, Any]) -> str:
    d = details
    if action in ("model.disabled", "model.enabled") and _follow_up(d):
        alias = d.get("alias", "champion")
        if action == "model.disabled":
            return (
                f"{d.get('step')} step: alias {alias} removed (was v{d.get('alias_removed_from')})"
            )
        return f"{d.get('step')} step: alias {alias} restored"
    if action == "approval.granted":
        how = " (unsigned)"
        if d.get("signed") is True:
            how = f" (signed, key {d.get('approver_key_id')})"
        return f"approved{how}; risk assessment: {d.get('risk_assessment') or '(none given)'}"
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
        category = _CATEGORIES.get(action, "other")
        if action == "model.enabled" and (previous is None or previous[0] != "disabled"):
            category = "promotion"  # switched on at first promotion, not a re-enable
        if _follow_up(details):
            pass  # the switch flip before it already changed the serving state
        elif action == "model.promoted":
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
                category=category,
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


# The HTML page: self-contained (inline CSS, no script, no external resource), readable on
# screen and on paper. Colours follow one rule: red = kills and refusals, amber = incidents
# and alerts, green = approvals, promotions and re-enables, grey = routine evidence.
_CSS = "\n".join(
    [
        ":root{--ink:#1d2330;--muted:#5b6478;--line:#e3e7ee;--soft:#f4f6fa;"
        "--red:#c62828;--red-bg:#fdecec;--amber:#b26a00;--amber-bg:#fff4de;"
        "--green:#1e7a45;--green-bg:#e6f4ec;--grey:#c9ced8}",
        "*{box-sizing:border-box}",
        "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;"
        "max-width:1180px;color:var(--ink);padding:0 1.2rem}",
        "h1{font-size:1.7rem;margin:0 0 .2rem}",
        "h2{font-size:1.35rem;margin:2.4rem 0 .6rem;border-bottom:2px solid var(--line);"
        "padding-bottom:.3rem;display:flex;align-items:center;gap:.7rem;flex-wrap:wrap}",
        "h3{font-size:1.02rem;margin:1.3rem 0 .4rem}",
        ".meta{color:var(--muted);margin:.1rem 0}",
        ".badge{display:inline-block;font-size:.8rem;font-weight:600;padding:.12rem .55rem;"
        "border-radius:10px;white-space:nowrap}",
        ".badge.ok{background:var(--green-bg);color:var(--green)}",
        ".badge.warn{background:var(--amber-bg);color:var(--amber)}",
        ".badge.state-serving{background:var(--green-bg);color:var(--green)}",
        ".badge.state-disabled{background:var(--red-bg);color:var(--red)}",
        ".badge.state-not-serving{background:var(--soft);color:var(--muted)}",
        ".howto{background:var(--soft);border-left:4px solid #8a94a8;padding:.55rem .9rem;"
        "margin:1rem 0;border-radius:4px}",
        ".cards{display:flex;gap:.7rem;flex-wrap:wrap;margin:1rem 0}",
        ".card{background:var(--soft);border-radius:8px;padding:.55rem 1rem;min-width:7.5rem;"
        "border-top:4px solid var(--grey)}",
        ".card b{display:block;font-size:1.5rem}",
        ".card.kill{border-top-color:var(--red)}.card.kill b{color:var(--red)}",
        ".card.bad{border-top-color:var(--red)}",
        ".card.warn{border-top-color:#e0a030}.card.warn b{color:var(--amber)}",
        ".card.good{border-top-color:#3aa76d}.card.good b{color:var(--green)}",
        "table{border-collapse:collapse;width:100%;margin:.5rem 0 1.2rem}",
        "th,td{border-bottom:1px solid var(--line);padding:.32rem .5rem;text-align:left;"
        "vertical-align:top}",
        "th{background:var(--soft);font-weight:600}",
        "td.num,th.num{text-align:right}",
        "td.when,td.name{white-space:nowrap;font-variant-numeric:tabular-nums}",
        "td.summary,td.action,td.actor{overflow-wrap:anywhere}",
        "table.events{table-layout:fixed;min-width:1100px}",
        ".scroll{overflow-x:auto}",
        "table.events col.c-seq{width:3.4rem}table.events col.c-when{width:10.6rem}",
        "table.events col.c-cat{width:7.2rem}table.events col.c-action{width:11.6rem}",
        "table.events col.c-ver{width:4.6rem}table.events col.c-actor{width:13.5rem}",
        "tr.tone-kill td{background:var(--red-bg)}tr.tone-kill td:first-child{box-shadow:inset 4px 0 var(--red)}",
        "tr.tone-bad td:first-child{box-shadow:inset 4px 0 var(--red)}",
        "tr.tone-warn td{background:var(--amber-bg)}tr.tone-warn td:first-child{box-shadow:inset 4px 0 #e0a030}",
        "tr.tone-alert td:first-child{box-shadow:inset 4px 0 #e0a030}",
        "tr.tone-good td{background:var(--green-bg)}tr.tone-good td:first-child{box-shadow:inset 4px 0 #3aa76d}",
        "tr.tone-routine td{color:var(--muted)}",
        ".roles{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.3rem 0}",
        ".missing{color:var(--amber);font-style:italic}",
        ".bar{position:relative;height:30px;border-radius:6px;overflow:hidden;"
        "border:1px solid #cfd5df;background:repeating-linear-gradient(135deg,#f1f3f7 0 6px,#e6e9ef 6px 12px)}",
        ".seg{position:absolute;top:0;bottom:0;color:#fff;font-size:.75rem;font-weight:600;"
        "line-height:28px;padding-left:.35rem;white-space:nowrap;overflow:hidden}",
        ".seg.serving{background:#3aa76d}.seg.disabled{background:#d64545}.seg.not-serving{background:transparent;color:var(--muted)}",
        ".marks{position:relative;height:14px}",
        ".mark{position:absolute;top:2px;width:0;height:0;border-left:6px solid transparent;"
        "border-right:6px solid transparent;border-top:10px solid #555;margin-left:-6px}",
        ".mark.kill{border-top-color:var(--red)}.mark.good{border-top-color:#3aa76d}",
        ".mark.warn{border-top-color:#e0a030}.mark.bad{border-top-color:#8e24aa}",
        ".axis{position:relative;height:1.3rem;font-size:.75rem;color:var(--muted);"
        "font-variant-numeric:tabular-nums}",
        ".tick{position:absolute;top:0;transform:translateX(-50%);white-space:nowrap}",
        ".tick.first{transform:none}.tick.last{transform:translateX(-100%)}",
        ".timeline{margin:.3rem 0 .8rem}",
        ".timeline .caption{font-size:.82rem;color:var(--muted);margin:.1rem 0}",
        ".legend{font-size:.82rem;color:var(--muted);margin:.2rem 0 .6rem}",
        ".legend span{display:inline-block;margin-right:1.1rem}",
        ".legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;"
        "margin-right:.3rem;vertical-align:-1px}",
        ".legend i.serving{background:#3aa76d}.legend i.disabled{background:#d64545}",
        ".legend i.none{background:repeating-linear-gradient(135deg,#f1f3f7 0 3px,#d9dde5 3px 6px)}",
        ".legend i.m{width:0;height:0;border-radius:0;border-left:5px solid transparent;"
        "border-right:5px solid transparent;border-top:9px solid}",
        ".legend i.m.kill{color:var(--red)}.legend i.m.good{color:#3aa76d}",
        ".legend i.m.warn{color:#e0a030}.legend i.m.bad{color:#8e24aa}",
        ".cat{font-size:.76rem;padding:.05rem .45rem;border-radius:9px;background:#e8ecf3;white-space:nowrap}",
        "footer{margin-top:2.5rem;color:var(--muted);font-size:.82rem;border-top:1px solid var(--line);padding-top:.6rem}",
        "a{color:#1f4fa8}",
        "@media print{"
        "@page{margin:12mm}"
        "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
        "body{max-width:none;margin:0;padding:0;font-size:10pt}"
        "a{color:inherit;text-decoration:none}"
        ".scroll{overflow:visible}table.events{min-width:0}"
        "thead{display:table-header-group}"
        "tr,.timeline,.cards,.roles,.howto{break-inside:avoid}"
        "h2,h3{break-after:avoid}"
        "section.model+section.model{break-before:page}"
        "table{font-size:8.5pt}th,td{padding:.2rem .3rem}td.when{white-space:normal}"
        "table.events col.c-seq{width:5%}table.events col.c-when{width:11%}"
        "table.events col.c-cat{width:12%}table.events col.c-action{width:15%}"
        "table.events col.c-ver{width:7%}table.events col.c-actor{width:16%}"
        "}",
    ]
)

_TOTAL_CARDS: dict[str, tuple[str, str]] = {
    # totals key -> (label, tone)
    "events": ("events in the period", ""),
    "model_changes": ("model changes", ""),
    "approvals": ("approvals", "good"),
    "unsigned_approvals": ("approvals without a signature", "warn"),
    "rejections": ("rejections", "bad"),
    "incidents": ("drift incidents", "warn"),
    "kills": ("kills", "kill"),
    "re_enables": ("re-enables", "good"),
}
_ROLE_NAMES = ("owner", "guardian", "operator")


def _h(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _when(ts: str | datetime) -> str:
    moment = ts if isinstance(ts, datetime) else _timestamp(ts)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _tone(event: ReportEvent) -> str:
    """Row colour of an event: kill, bad (refusals, failures), warn (incidents), alert, good, routine."""
    severity = event.details.get("severity")
    if event.action == "model.disabled":
        return "kill"
    if event.category == "security" or event.action in (
        "approval.rejected",
        "onboarding.failed",
        "alert.failed",
    ):
        return "bad"
    if event.action in ("approval.granted", "model.promoted", "model.enabled"):
        return "good"
    if event.category == "incident" or (
        event.category == "monitoring" and severity in _INCIDENT_SEVERITIES
    ):
        return "warn"
    if event.category == "alert" and severity in _INCIDENT_SEVERITIES:
        return "alert"
    if event.category in _CHANGES:
        return ""
    return "routine"


def _is_incident(event: ReportEvent) -> bool:
    # the same rule as ComplianceReport.totals
    return (
        event.action == "drift.evaluated" and event.details.get("severity") in _INCIDENT_SEVERITIES
    )


def _merged(serving: list[ServingInterval]) -> list[ServingInterval]:
    """Adjacent intervals with the same state and version, shown as one (reasons joined)."""
    out: list[ServingInterval] = []
    for s in serving:
        last = out[-1] if out else None
        if last and last.state == s.state and last.version == s.version and last.end == s.start:
            reasons = [r for r in (last.reason, s.reason) if r]
            reason = " · ".join(dict.fromkeys(reasons))
            out[-1] = ServingInterval(s.model, s.version, s.state, last.start, s.end, reason)
        else:
            out.append(s)
    return out


def _tick_format(seconds: float) -> str:
    if seconds > 3 * 86400:
        return "%d %b %Y"
    if seconds > 2 * 3600:
        return "%d %b %H:%M"
    return "%H:%M:%S"


def _bar(
    serving: list[ServingInterval],
    marks: list[tuple[datetime, str, str]],
    lo: datetime,
    hi: datetime,
    caption: str,
) -> str:
    """One timeline: coloured serving intervals, event markers above, dated axis below."""
    span = max((hi - lo).total_seconds(), 1e-3)

    def pct(moment: datetime) -> float:
        return min(max((moment - lo).total_seconds() / span * 100, 0.0), 100.0)

    segs = []
    for s in serving:
        a, b = pct(_timestamp(s.start)), pct(_timestamp(s.end))
        if b <= 0 or a >= 100 or (b - a <= 0 and _timestamp(s.start) >= hi):
            continue
        width = max(b - a, 0.5)
        text = f"v{s.version} {s.state}" if s.version else s.state
        label = f"{text}: {_when(s.start)} to {_when(s.end)} UTC {s.reason}".strip()
        inner = _h(text) if width >= 9 else ""
        segs.append(
            f'<div class="seg {s.state.replace(" ", "-")}" style="left:{a:.3f}%;width:{width:.3f}%"'
            f' title="{_h(label)}">{inner}</div>'
        )
    pins = "".join(
        f'<i class="mark {tone}" style="left:{pct(at):.3f}%" title="{_h(label)}"></i>'
        for at, tone, label in marks
        if lo <= at <= hi
    )
    fmt = _tick_format(span)
    ticks = []
    for i in range(5):
        moment = lo + (hi - lo) * (i / 4)
        if 0 < i < 4 and span > 2 * 3600:  # inner ticks on whole minutes
            moment = (moment + timedelta(seconds=30)).replace(second=0, microsecond=0)
        cls = "tick first" if i == 0 else "tick last" if i == 4 else "tick"
        ticks.append(
            f'<span class="{cls}" style="left:{i * 25}%">{_h(moment.strftime(fmt))}</span>'
        )
    return (
        f'<div class="timeline"><p class="caption">{_h(caption)}</p>'
        f'<div class="marks">{pins}</div><div class="bar">{"".join(segs)}</div>'
        f'<div class="axis">{"".join(ticks)}</div></div>'
    )


_LEGEND = (
    '<p class="legend"><span><i class="serving"></i>serving</span>'
    '<span><i class="disabled"></i>disabled (killed)</span>'
    '<span><i class="none"></i>no serving version</span>'
    '<span><i class="m kill"></i>kill</span><span><i class="m good"></i>approval, promotion, re-enable</span>'
    '<span><i class="m warn"></i>drift incident, webhook incident</span>'
    '<span><i class="m bad"></i>rejection, refusal, failure</span></p>'
)


def _ledger_badge(ledger: Mapping[str, Any]) -> str:
    if ledger.get("verified") is True:
        facts = []
        for key, noun in (
            ("records", "records"),
            ("last_seq", "last seq"),
            ("checkpoints", "checkpoints"),
            ("sealed_segments", "sealed segments"),
        ):
            if key in ledger:
                facts.append(f"{noun} {ledger[key]}")
        return (
            '<span class="badge ok">✓ audit ledger verified</span> '
            f'<span class="meta">{_h(", ".join(facts))}</span>'
        )
    return (
        '<span class="badge warn">ledger verification not stated</span> '
        f'<span class="meta">{_h(_ledger_line(ledger))}</span>'
    )


def _period_text(start: datetime, end: datetime) -> str:
    return f"{start:%d %b %Y %H:%M} to {end:%d %b %Y %H:%M} UTC"


def _anchor(model: str) -> str:
    return "model-" + "".join(c if c.isalnum() else "-" for c in model)


def _state_at_end(serving: list[ServingInterval]) -> tuple[str, str]:
    """(state, label) of the last serving interval: ("disabled", "disabled v1")."""
    final = serving[-1] if serving else None
    state = final.state if final else "not serving"
    return state, f"{state} v{final.version}" if final and final.version else state


def _model_section(section: ModelSection, start: datetime, end: datetime) -> list[str]:
    serving = _merged(section.serving)
    state, state_text = _state_at_end(serving)
    anchor = _anchor(section.model)
    out = [
        f'<section class="model" id="{_h(anchor)}" data-model="{_h(section.model)}">',
        f'<h2>{_h(section.model)} <span class="badge state-{state.replace(" ", "-")}">'
        f"at period end: {_h(state_text)}</span></h2>",
        '<h3>Accountable roles</h3><div class="roles">',
    ]
    for role in _ROLE_NAMES:
        who = section.roles.get(role)
        value = _h(who) if who else '<span class="missing">not recorded</span>'
        out.append(f'<b data-role="{role}">{role.title()}</b><span>{value}</span>')
    for role, who in section.roles.items():
        if role not in _ROLE_NAMES:
            out.append(f'<b data-role="{_h(role)}">{_h(role.title())}</b><span>{_h(who)}</span>')
    out.append("</div>")

    marks = []
    for e in section.events:
        tone = _tone(e)
        if tone in ("kill", "good", "warn", "bad"):
            marks.append(
                (_timestamp(e.ts), tone, f"{_when(e.ts)} {e.action} by {e.actor}: {e.summary}")
            )
    out.append("<h3>Serving timeline</h3>")
    out.append(_bar(serving, marks, start, end, f"Whole period: {_period_text(start, end)}"))
    # activity squeezed into a sliver of the period (a demo, one incident day): add a close-up
    moments = [m[0] for m in marks] + [
        _timestamp(t) for s in serving for t in (s.start, s.end) if start < _timestamp(t) < end
    ]
    if moments:
        first, last = min(moments), max(moments)
        window = (last - first).total_seconds()
        if window < 0.1 * (end - start).total_seconds():
            pad = timedelta(seconds=max(window * 0.08, 5.0))
            lo, hi = max(first - pad, start), min(last + pad, end)
            out.append(
                _bar(
                    serving,
                    marks,
                    lo,
                    hi,
                    f"Close-up of the activity: {_when(lo)} to {_when(hi)} UTC",
                )
            )
    out.append(_LEGEND)

    out.append(
        '<table class="serving"><thead><tr><th>from (UTC)</th><th>to (UTC)</th><th>state</th>'
        "<th>version</th><th>reason</th></tr></thead><tbody>"
    )
    for s in serving:
        out.append(
            f'<tr class="tone-{"good" if s.state == "serving" else "kill" if s.state == "disabled" else "routine"}">'
            f'<td class="when">{_h(_when(s.start))}</td><td class="when">{_h(_when(s.end))}</td>'
            f"<td>{_h(s.state)}</td><td>{_h(s.version or '-')}</td>"
            f'<td class="summary">{_h(s.reason)}</td></tr>'
        )
    out.append("</tbody></table>")

    counts = ", ".join(f"{n} {cat}" for cat, n in sorted(section.counts.items()))
    out.append(
        f'<h3>Events <span class="meta">({len(section.events)}: {_h(counts) or "none"})</span></h3>'
        '<div class="scroll"><table class="events"><colgroup><col class="c-seq"><col class="c-when"><col class="c-cat">'
        '<col class="c-action"><col class="c-ver"><col class="c-actor"><col></colgroup>'
        "<thead><tr><th>seq</th><th>time (UTC)</th><th>category</th><th>action</th>"
        "<th>version</th><th>actor (role)</th><th>summary</th></tr></thead><tbody>"
    )
    for e in section.events:
        out.append(
            f'<tr class="tone-{_tone(e) or "change"}"><td class="num">{e.seq}</td>'
            f'<td class="when">{_h(_when(e.ts))}</td>'
            f'<td><span class="cat">{_h(e.category)}</span></td>'
            f'<td class="action">{_h(e.action)}</td><td>{_h(e.version or "-")}</td>'
            f'<td class="actor">{_h(e.actor)} <small>({_h(e.role)})</small></td>'
            f'<td class="summary">{_h(e.summary)}</td></tr>'
        )
    if not section.events:
        out.append('<tr><td colspan="7">No events for this model in the period.</td></tr>')
    out.append("</tbody></table></div></section>")
    return out


def _html(report: ComplianceReport) -> str:
    start, end = _timestamp(report.period_start), _timestamp(report.period_end)
    totals = report.totals
    cards = "".join(
        f'<div class="card {_TOTAL_CARDS.get(k, (k, ""))[1] if v else ""}" data-total="{_h(k)}">'
        f"<b>{v}</b>{_h(_TOTAL_CARDS.get(k, (k.replace('_', ' '), ''))[0])}</div>"
        for k, v in totals.items()
    )
    body = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>Compliance report {_h(report.period_start[:10])} to {_h(report.period_end[:10])}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header><h1>Model governance compliance report</h1>",
        f'<p class="meta">Period <b>{_h(_period_text(start, end))}</b> · generated '
        f"{_h(_when(report.generated_at))} UTC</p>",
        f'<p class="ledger">{_ledger_badge(report.ledger)}</p></header>',
        '<p class="howto"><b>How to read this report.</b> Built only from the verified audit '
        "ledger. The cards count the period's events; then, per model, its accountable people, "
        "a bar showing which version was serving when (green serving, red killed, hatched none), "
        "and every ledger event in order. Rows: <b>red</b> kills and refusals, <b>amber</b> drift "
        "incidents and alerts, <b>green</b> approvals, promotions and re-enables, grey routine "
        "evidence (scans, signatures, checks). All times are UTC.</p>",
        f'<div class="cards" id="totals">{cards}</div>',
    ]
    if not report.models:
        body.append('<p class="empty">No governance events were recorded in this period.</p>')
    else:
        body.append(
            '<h2 id="at-a-glance">Models at a glance</h2><div class="scroll">'
            '<table class="glance"><thead><tr>'
            "<th>model</th><th>owner</th><th>guardian</th><th>at period end</th>"
            '<th class="num">changes</th><th class="num">approvals</th>'
            '<th class="num">incidents</th><th class="num">kills</th><th class="num">events</th>'
            "</tr></thead><tbody>"
        )
        for section in report.models:
            state, state_text = _state_at_end(_merged(section.serving))
            anchor = _anchor(section.model)
            events = section.events
            body.append(
                f'<tr><td class="name"><a href="#{_h(anchor)}">{_h(section.model)}</a></td>'
                f"<td>{_h(section.roles.get('owner', '—'))}</td>"
                f"<td>{_h(section.roles.get('guardian', '—'))}</td>"
                f'<td><span class="badge state-{state.replace(" ", "-")}">{_h(state_text)}</span></td>'
                f'<td class="num">{sum(e.category in _CHANGES for e in events)}</td>'
                f'<td class="num">{sum(e.action == "approval.granted" for e in events)}</td>'
                f'<td class="num">{sum(_is_incident(e) for e in events)}</td>'
                f'<td class="num">{sum(e.action == "model.disabled" for e in events)}</td>'
                f'<td class="num">{len(events)}</td></tr>'
            )
        body.append("</tbody></table></div>")
    for section in report.models:
        body.extend(_model_section(section, start, end))
    body.append(
        "<footer>Generated by Model Steward from the audit ledger. The JSON and CSV exports of "
        "this report carry every recorded field (hashes, run ids); "
        "<code>steward audit verify</code> re-checks the ledger.</footer>"
    )
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
