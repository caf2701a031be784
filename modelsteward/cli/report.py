"""``steward report``: the compliance report of a period, from the verified ledger."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.option("--from", "start", required=True, help="First day of the period (2026-07-01).")
@click.option("--to", "end", required=True, help="Last day of the period, inclusive.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md", "csv", "json"]),
    default="html",
    show_default=True,
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output file.")
@click.option("--as", "actor", default="steward-cli", show_default=True, help="Who asks.")
def report(start: str, end: str, fmt: str, out: Path, actor: str) -> None:
    """Verify the audit ledger and write the compliance report of a period.

    Lists every registration, approval (approver, risk assessment), promotion, drift incident,
    alert, kill and re-enable per model with its Owner, Guardian and Operator, and which version
    was serving at any time. A broken ledger is refused (exit 4) and nothing is written.
    """
    from modelsteward.audit import AuditAction, Ledger
    from modelsteward.reporting import parse_period, report_from_ledger, write_report
    from modelsteward.settings import load_settings

    try:
        lower, upper = parse_period(start, end)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if not out.parent.is_dir():
        raise click.BadParameter(
            f"{out}: the directory {out.parent} does not exist", param_hint="--out"
        )
    settings = load_settings()
    built = report_from_ledger(settings, lower, upper)
    try:
        path = write_report(built, fmt, out)  # type: ignore[arg-type]
    except OSError as err:
        raise click.ClickException(f"cannot write {out}: {err.strerror or err}") from err
    with Ledger.from_settings(settings) as ledger:
        ledger.append(
            action=AuditAction.REPORT_GENERATED,
            actor=actor,
            role="system",
            details={
                "from": lower.isoformat(),
                "to": upper.isoformat(),
                "format": fmt,
                "path": str(path),
                "totals": built.totals,
            },
        )
    totals = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in built.totals.items())
    click.echo(f"wrote {path} ({fmt}; {len(built.models)} model(s); {totals})")


def register(cli: click.Group) -> None:
    cli.add_command(report)
