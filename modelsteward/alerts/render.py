"""Block Kit messages: one alert, a digest of many, a resolution.

The top-level ``text`` is the whole story in one line, because mobile notifications and screen
readers show only that; the blocks add the header, the facts as fields (model, version, owner,
signal, value vs threshold) and links to the Evidently report and the Prefect flow run.
Limits respected: header 150 characters, section text 3,000, at most 10 fields of 2,000, at
most 50 blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["MAX_DIGEST", "alert_message", "digest_message", "plain_line"]

MAX_DIGEST = 50
_EMOJI = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}
_LINK_LABELS = {"report": "Evidently report", "flow_run": "Prefect flow run"}


def _esc(text: object) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _emoji(alert: dict[str, Any], resolved: bool) -> str:
    return ":white_check_mark:" if resolved else _EMOJI.get(alert["severity"], "")


def _value_vs_threshold(alert: dict[str, Any]) -> str | None:
    if alert.get("value") is None and alert.get("threshold") is None:
        return None
    return f"{_fmt(alert.get('value'))} vs {_fmt(alert.get('threshold'))}"


def plain_line(payload: dict[str, Any]) -> str:
    """The one-line summary: top-level ``text``, console line, PagerDuty summary."""
    alert = payload["alert"]
    signal = alert.get("signal") or alert["kind"]
    label = "RESOLVED" if payload.get("resolved") else alert["severity"].upper()
    line = f"[{label}] {alert['model']} v{alert['version']}: {alert['title']}"
    versus = _value_vs_threshold(alert)
    if versus:
        line += f" ({signal} {versus})"
    roles = payload.get("roles")
    if roles:
        line += f" for {', '.join(roles)}"
    return line


def _links(alert: dict[str, Any]) -> str:
    return " · ".join(
        f"<{url}|{_esc(_LINK_LABELS.get(label, label))}>"
        for label, url in alert.get("links", {}).items()
    )


def alert_message(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """``(text, blocks)`` for one alert (or its resolution)."""
    alert = payload["alert"]
    resolved = bool(payload.get("resolved"))
    word = "Resolved" if resolved else alert["severity"].capitalize()
    header = _cut(f"{_emoji(alert, resolved)} {word}: {alert['title']}", 150)
    facts: list[tuple[str, str]] = [
        ("Model", alert["model"]),
        ("Version", alert["version"]),
        ("Owner", payload.get("owner") or "—"),
        ("Signal", alert.get("signal") or alert["kind"]),
    ]
    versus = _value_vs_threshold(alert)
    if versus:
        facts.append(("Value vs threshold", versus))
    if payload.get("roles"):
        facts.append(("For", ", ".join(payload["roles"])))
    for name, value in alert.get("fields", {}).items():
        if len(facts) >= 10:
            break
        facts.append((name, _fmt(value)))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_esc(alert["summary"]), 3000)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{_esc(k)}*\n{_esc(v)}", 2000)} for k, v in facts
            ],
        },
    ]
    context = [f"incident `{_esc(payload.get('incident_key') or '')}`"]
    links = _links(alert)
    if links:
        context.insert(0, links)
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _cut(c, 3000)} for c in context],
        }
    )
    return _cut(plain_line(payload), 3000), blocks


def digest_message(
    payloads: Sequence[dict[str, Any]], target: str
) -> tuple[str, list[dict[str, Any]]]:
    """One message for a burst of alerts to one channel (at most :data:`MAX_DIGEST`)."""
    alerts = [p["alert"] for p in payloads]
    models = sorted({a["model"] for a in alerts})
    counts: dict[str, int] = {}
    for payload in payloads:
        label = "resolved" if payload.get("resolved") else payload["alert"]["severity"]
        counts[label] = counts.get(label, 0) + 1
    tally = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
    shown = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
    text = f"Model Steward: {len(payloads)} alerts ({tally}) on {len(models)} model(s): {shown}"
    worst = "critical" if counts.get("critical") else "warning" if counts.get("warning") else "info"
    header = _cut(f"{_EMOJI[worst]} {len(payloads)} alerts on {len(models)} model(s)", 150)
    lines: list[str] = []
    for payload in payloads:
        alert = payload["alert"]
        resolved = bool(payload.get("resolved"))
        line = (
            f"• {_emoji(alert, resolved)} *{_esc(alert['model'])}* v{_esc(alert['version'])} · "
            f"{_esc(alert.get('signal') or alert['kind'])}"
        )
        versus = _value_vs_threshold(alert)
        if versus:
            line += f" {_esc(versus)}"
        line += f" — {_esc(_cut(alert['title'], 120))}"
        links = _links(alert)
        if links:
            line += f" ({links})"
        lines.append(_cut(line, 600))
    sections: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > 2900:
            sections.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        sections.append(current)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _esc(_cut(text, 2900))}]},
    ]
    blocks.extend({"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections)
    return _cut(text, 3000), blocks[:50]
