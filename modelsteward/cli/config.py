"""``steward config``: the resolved configuration, secrets redacted."""

from __future__ import annotations

import json

import click


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def config(as_json: bool) -> None:
    """Show the resolved configuration (what every command and flow will use)."""
    from modelsteward.settings import load_settings, redact_url

    settings = load_settings()
    resolved = {
        "home": str(settings.home),
        "policy_dir": str(settings.policy_dir),
        "mlflow_tracking_uri": redact_url(settings.tracking_uri),
        "mlflow_artifact_root": settings.artifact_root,
        "s3": "embedded moto server (not durable)"
        if settings.embedded_s3
        else redact_url(settings.s3_endpoint_url) or "AWS S3",
        "s3_bucket": settings.bucket,
        "object_lock_retention_days": settings.object_lock_retention_days,
        "killswitch": redact_url(settings.killswitch),
        "slack": "bot token set" if settings.slack_bot_token else "outbox only (no token)",
        "pagerduty_webhook_secrets": len(settings.pagerduty_webhook_secrets),
        "service": f"http://{settings.service_host}:{settings.service_port}",
    }
    if as_json:
        click.echo(json.dumps(resolved, indent=2))
        return
    width = max(len(k) for k in resolved)
    for key, value in resolved.items():
        click.echo(f"{key:<{width}}  {value}")


def register(cli: click.Group) -> None:
    cli.add_command(config)
