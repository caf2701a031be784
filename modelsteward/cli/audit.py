"""``steward audit``: verify, read, export and seal the audit ledger."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from modelsteward.audit.records import AuditAction

if TYPE_CHECKING:
    from modelsteward.audit import Ledger
    from modelsteward.settings import StewardSettings

_ACTIONS = [action.value for action in AuditAction]


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"got {value!r}, expected an ISO 8601 date or time (2026-01-31, 2026-01-31T12:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ledger() -> tuple[StewardSettings, Ledger]:
    from modelsteward.audit import Ledger
    from modelsteward.settings import load_settings

    settings = load_settings()
    return settings, Ledger.from_settings(settings)


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit ledger (hash chain sealed into S3 Object Lock)."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as a JSON object.")
@click.option(
    "--local",
    "local_only",
    is_flag=True,
    help="Check the local chain and checkpoints only, not the sealed copies in S3.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Also check that every record is canonical JSON with exactly the record fields.",
)
def verify(as_json: bool, local_only: bool, strict: bool) -> None:
    """Verify the chain, checkpoint signatures and sealed segments.

    Exit 0 when intact; exit 4 naming the first bad seq and the reason otherwise.
    """
    settings, ledger = _ledger()
    bucket = None
    notes: list[str] = []
    if not local_only:
        if settings.embedded_s3:
            notes.append(
                "embedded S3 is not durable: checked the local checkpoints only "
                "(set STEWARD_S3_BUCKET or AWS_ENDPOINT_URL to check the sealed copies)"
            )
        else:
            from modelsteward.objectstore import LockedBucket

            bucket = LockedBucket.from_settings(settings)
    report = ledger.verify(bucket, strict=strict)
    report.warnings.extend(notes)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for warning in report.warnings:
            click.secho(f"warning: {warning}", fg="yellow", err=True)
        if report.ok:
            click.echo(
                f"ok  {report.records} records, last seq {report.last_seq} "
                f"({report.last_hash[:16]}), {report.checkpoints} checkpoint(s) and "
                f"{report.segments} sealed segment(s) verified in {report.seconds:.2f}s"
            )
    report.raise_if_broken()


def _row(record: Any) -> str:
    details = json.dumps(record.details, separators=(",", ":"), ensure_ascii=False)
    if len(details) > 80:
        details = details[:77] + "..."
    ts = record.ts.strftime("%Y-%m-%d %H:%M:%S")
    model = record.model or "-"
    if record.version:
        model += f"@{record.version}"
    return (
        f"{record.seq:>6}  {ts}  {record.action!s:<22} {model:<24} "
        f"{record.actor} ({record.role})  {details}"
    )


@audit_group.command("log")
@click.option("--model", help="Only this model.")
@click.option("--action", type=click.Choice(_ACTIONS), help="Only this action.")
@click.option("--actor", help="Only this actor.")
@click.option("--since", callback=_when, help="From this UTC date or time (inclusive).")
@click.option("--until", callback=_when, help="Up to this UTC date or time (exclusive).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N matching records.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as a JSON list.")
def log_command(
    model: str | None,
    action: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Read the ledger, oldest first (hashes are checked by `steward audit verify`)."""
    from collections import deque

    _, ledger = _ledger()
    found = ledger.records(model=model, action=action, actor=actor, since=since, until=until)
    records = list(deque(found, maxlen=limit)) if limit else list(found)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        click.echo("no matching records", err=True)
    for record in records:
        click.echo(_row(record))


@audit_group.command("export")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file (default: standard output).",
)
def export(out: Path | None) -> None:
    """Export every record as JSON Lines, byte for byte as stored (hashes verifiable)."""
    _, ledger = _ledger()
    if out is None:
        count = ledger.export(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        with open(out, "wb") as handle:
            count = ledger.export(handle)
    click.echo(f"exported {count} records" + (f" to {out}" if out else ""), err=True)


@audit_group.command("seal")
@click.option("--force", is_flag=True, help="Also seal the open segment, however young.")
@click.option("--json", "as_json", is_flag=True, help="Print what was sealed as JSON.")
def seal(force: bool, as_json: bool) -> None:
    """Seal closed segments into the Object Lock bucket with a signed checkpoint."""
    from modelsteward.embedded import runtime
    from modelsteward.objectstore import LockedBucket
    from modelsteward.settings import load_settings

    settings = load_settings()
    if settings.embedded_s3 and not as_json:
        click.secho(
            "warning: sealing into the embedded S3 server, which forgets on exit; "
            "the signed checkpoints stay in the local ledger directory",
            fg="yellow",
            err=True,
        )
    from modelsteward.audit import Ledger

    with runtime(settings) as resolved:
        ledger = Ledger.from_settings(resolved)
        bucket = LockedBucket.from_settings(resolved).ensure()
        report = ledger.seal(bucket, force=force)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    for cp in report.checkpoints:
        click.echo(
            f"sealed seq {cp.first_seq}..{cp.last_seq}  s3://{bucket.bucket}/{cp.segment_key}"
        )
    click.echo(
        f"sealed through seq {report.sealed_through}; {report.pending_records} record(s) "
        "in the open segment"
    )


@audit_group.command("rotate-key")
@click.option(
    "--as",
    "actor",
    required=True,
    help="Who rotates the key (recorded in the ledger), e.g. gina@example.com.",
)
@click.option(
    "--reason",
    required=True,
    help="Why (scheduled rotation, suspected exposure, ...); recorded in the ledger.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def rotate_key(actor: str, reason: str, as_json: bool) -> None:
    """Replace the checkpoint signing key; earlier checkpoints keep verifying.

    Seals what is pending under the old key, keeps the old public key under
    <key dir>/retired/, records ledger.key_rotated and seals it under the new key.
    """
    from modelsteward.audit import Ledger
    from modelsteward.audit.seal import Sealer
    from modelsteward.embedded import runtime
    from modelsteward.objectstore import LockedBucket
    from modelsteward.settings import load_settings

    settings = load_settings()
    with runtime(settings) as resolved:
        ledger = Ledger.from_settings(resolved)
        bucket = LockedBucket.from_settings(resolved).ensure()
        rotation = Sealer(ledger).rotate_key(bucket, actor=actor, reason=reason)
    if as_json:
        click.echo(json.dumps(rotation.to_dict(), indent=2))
        return
    click.echo(
        f"rotated the ledger signing key {rotation.old_key_id} -> {rotation.new_key_id} "
        f"({ledger.key_path}); the old public key is kept in "
        f"{ledger.key_path.parent / 'retired'}"
    )
    if rotation.sealed_after is not None:
        click.echo(f"sealed through seq {rotation.sealed_after.sealed_through} under the new key")
    if rotation.warning:
        click.secho(f"warning: {rotation.warning}", fg="yellow", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(audit_group)
