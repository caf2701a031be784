"""``steward alerts``: where an alert would go, what is still undelivered, deliver it now."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import click

_KINDS = ("data_quality", "drift", "performance", "security", "kill_notice", "approval_request")


@click.group("alerts")
def alerts_group() -> None:
    """Alert routing and the durable outbox (Slack, PagerDuty, console)."""


@alerts_group.command("preview")
@click.argument("model")
@click.option(
    "--severity",
    type=click.Choice(["info", "warning", "critical"]),
    default="critical",
    show_default=True,
)
@click.option("--kind", type=click.Choice(_KINDS), default="drift", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def preview(model: str, severity: str, kind: str, as_json: bool) -> None:
    """Show who an alert about MODEL would reach, and how. Sends nothing."""
    from modelsteward.alerts import route
    from modelsteward.policy import find_policy
    from modelsteward.settings import load_settings

    settings = load_settings()
    policy = find_policy(settings.policy_dir, model)
    routing = route(policy, kind, severity)
    slack_live = settings.slack_bot_token is not None
    rows = []
    for delivery in routing.deliveries:
        if delivery.channel == "slack":
            via = "slack" if slack_live else "outbox-only (STEWARD_SLACK_BOT_TOKEN unset)"
        elif delivery.channel == "pagerduty":
            via = (
                "pagerduty"
                if os.environ.get(delivery.target)
                else f"outbox-only ({delivery.target} unset)"
            )
        else:
            via = "outbox-only (no mail transport)"
        rows.append(
            {
                "channel": delivery.channel,
                "target": delivery.target,
                "roles": list(delivery.roles),
                "via": via,
            }
        )
    result = {
        "model": policy.model,
        "kind": kind,
        "severity": severity,
        "roles": list(routing.roles),
        "page": routing.page,
        "deliveries": rows,
        "why": list(routing.reasons),
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{policy.model}: {kind} at {severity} -> {', '.join(routing.roles)}")
    for row in rows:
        roles = ",".join(row["roles"])
        click.echo(f"  {row['channel']:<9} {row['target']:<32} {roles:<24} via {row['via']}")
    click.echo(f"  page: {'yes' if routing.page else 'no'}")
    for reason in routing.reasons:
        click.echo(f"  why: {reason}")


@alerts_group.command("pending")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def pending(as_json: bool) -> None:
    """List alert deliveries not delivered yet (pending, being sent, failed for good)."""
    from modelsteward.alerts import Outbox
    from modelsteward.settings import load_settings

    settings = load_settings()
    path = settings.outbox_dir / "outbox.db"
    entries = [] if not path.exists() else Outbox(path).undelivered()
    rows = [e.to_json() for e in entries]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("nothing pending")
        return
    for row in rows:
        click.echo(
            f"{row['status']:<8} {row['severity']:<8} {row['model']} v{row['version']} "
            f"{row['kind']} -> {row['channel']}:{row['target']} attempts={row['attempts']} "
            f"next={row['next_attempt_at']} {row['last_error'] or ''}".rstrip()
        )


@alerts_group.command("deliver")
@click.option(
    "--retry-failed", is_flag=True, help="Give final failures a fresh set of attempts first."
)
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, 3600),
    default=30.0,
    show_default=True,
    help="How long to wait for pacing and Retry-After before leaving the rest for later.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the delivery report as JSON.")
def deliver(retry_failed: bool, wait_seconds: float, as_json: bool) -> None:
    """Deliver what is due in the outbox now (retrying failed sends whose backoff is over)."""
    from modelsteward.alerts import AlertDispatcher
    from modelsteward.settings import load_settings

    settings = load_settings()
    with AlertDispatcher.from_settings(settings) as dispatcher:
        requeued = dispatcher.requeue_failed() if retry_failed else 0
        report = dispatcher.deliver_pending(wait_seconds=wait_seconds)
    summary = {"requeued": requeued, **report.summary()}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(
            f"delivered {summary['delivered']} ({summary['outbox_only']} outbox-only), "
            f"failed {summary['failed']}, retrying {summary['retrying']}, "
            f"still pending {summary['still_pending']}; {summary['slack_messages']} Slack "
            f"message(s), {summary['pagerduty_events']} PagerDuty event(s) at "
            f"{datetime.now(UTC):%H:%M:%S}Z"
        )
        for error in summary["errors"]:
            click.secho(f"  {error}", fg="yellow", err=True)
    if report.failed:
        click.get_current_context().exit(6)  # ExternalServiceError's exit code


@alerts_group.command("resolve")
@click.argument("model")
@click.argument("version")
@click.argument("signal")
@click.option("--no-deliver", is_flag=True, help="Only enqueue; deliver later.")
def resolve(model: str, version: str, signal: str, no_deliver: bool) -> None:
    """Resolve the incident steward:MODEL:VERSION:SIGNAL (PagerDuty and Slack threads)."""
    from modelsteward.alerts import AlertDispatcher, incident_key
    from modelsteward.settings import load_settings

    with AlertDispatcher.from_settings(load_settings()) as dispatcher:
        added = dispatcher.resolve(model, version, signal)
        report = None if no_deliver else dispatcher.deliver_pending()
    key = incident_key(model, version, signal)
    if not added:
        click.echo(f"{key}: nothing to resolve (never triggered, or already resolved)")
        return
    targets = ", ".join(f"{e.channel}:{e.target}" for e in added)
    state = "queued" if report is None else f"delivered {len(report.delivered)}"
    click.echo(f"{key}: resolution to {targets} ({state})")


@alerts_group.command("prune")
@click.option(
    "--older-than-days",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Forget finished deliveries older than this (open incidents are kept).",
)
def prune(older_than_days: float) -> None:
    """Delete delivered and failed rows from the outbox (they are in the audit ledger)."""
    from modelsteward.alerts import AlertDispatcher
    from modelsteward.settings import load_settings

    with AlertDispatcher.from_settings(load_settings()) as dispatcher:
        removed = dispatcher.prune(older_than_days=older_than_days)
    click.echo(f"pruned {removed} finished deliveries older than {older_than_days:g} days")


def register(cli: click.Group) -> None:
    cli.add_command(alerts_group)
