"""Block Kit rendering stays within Slack's limits whatever the alert says; the API is pinned."""

from __future__ import annotations

from _alerts import make_alert
from hypothesis import given, settings
from hypothesis import strategies as st

import modelsteward.alerts
from modelsteward.alerts.fakes import _blocks_problem
from modelsteward.alerts.render import MAX_DIGEST, alert_message, digest_message

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1)


def payload(title: str, summary: str, fields: dict[str, str], severity: str) -> dict:
    alert = make_alert(
        title=title.strip()[:140] or "t",
        summary=summary.strip()[:2000] or "s",
        fields=fields,
        severity=severity,
    )
    return {
        "alert": alert.model_dump(mode="json"),
        "owner": "Dana <&> Co",
        "roles": ["operator", "owner"],
        "incident_key": alert.incident_key,
    }


payloads = st.builds(
    payload,
    title=text,
    summary=st.text(min_size=1, max_size=2000),
    fields=st.dictionaries(st.text(min_size=1, max_size=50), st.text(max_size=3000), max_size=12),
    severity=st.sampled_from(["info", "warning", "critical"]),
)


@settings(max_examples=60, deadline=None)
@given(one=payloads)
def test_single_alert_fits_block_kit(one: dict) -> None:
    message_text, blocks = alert_message(one)
    assert _blocks_problem(blocks) is None
    assert 0 < len(message_text) <= 3000
    assert one["alert"]["model"] in message_text


@settings(max_examples=25, deadline=None)
@given(many=st.lists(payloads, min_size=2, max_size=MAX_DIGEST))
def test_digest_fits_block_kit_and_counts_everything(many: list[dict]) -> None:
    message_text, blocks = digest_message(many, "#chan")
    assert _blocks_problem(blocks) is None
    assert message_text.startswith(f"Model Steward: {len(many)} alerts (")
    shown = "".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert shown.count("• ") >= len(many)


def test_mrkdwn_control_characters_are_escaped() -> None:
    one = payload("a <b> & c", "x <!channel> y", {}, "warning")
    _, blocks = alert_message(one)
    assert "&lt;!channel&gt;" in blocks[1]["text"]["text"]
    assert "<!channel>" not in str(blocks)
    assert "Dana &lt;&amp;&gt; Co" in str(blocks)


def test_public_api_is_pinned() -> None:
    assert modelsteward.alerts.__all__ == [
        "KINDS",
        "SEVERITIES",
        "Alert",
        "AlertDispatcher",
        "AlertKind",
        "AlertSeverity",
        "Delivery",
        "DeliveryReport",
        "LedgerLike",
        "NewEntry",
        "Outbox",
        "OutboxEntry",
        "PagerDutySender",
        "Recipient",
        "Routing",
        "SendResult",
        "SlackSender",
        "incident_key",
        "route",
    ]
    for name in modelsteward.alerts.__all__:
        assert getattr(modelsteward.alerts, name) is not None
