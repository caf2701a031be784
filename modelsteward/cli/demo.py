"""``steward demo``: the lifecycle on embedded defaults, stage by stage.

Each stage is a function that does real work against the embedded stack and returns one line
for the summary; a later capability adds its stage here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from modelsteward.settings import StewardSettings


@dataclass
class DemoContext:
    settings: StewardSettings
    facts: dict[str, Any] = field(default_factory=dict)


Stage = Callable[[DemoContext], str]


def _stage_home(ctx: DemoContext) -> str:
    return f"embedded home ready at {ctx.settings.home}"


def _stage_policies(ctx: DemoContext) -> str:
    from modelsteward.policy import load_policy_dir

    policies = load_policy_dir(ctx.settings.policy_dir)
    if not policies:
        raise click.ClickException(f"no policy files in {ctx.settings.policy_dir}")
    ctx.facts["policies"] = policies
    names = ", ".join(
        f"{p.model} ({p.risk_tier}, owner {p.roles.owner.email})" for p in policies.values()
    )
    return f"{len(policies)} policy file(s) valid: {names}"


def _stage_object_lock(ctx: DemoContext) -> str:
    from modelsteward.errors import StorageError
    from modelsteward.objectstore import LockedBucket

    bucket = LockedBucket.from_settings(ctx.settings).ensure()
    stored = bucket.put("demo/probe.txt", b"governance evidence", content_type="text/plain")
    head = bucket.head(stored.key, stored.version_id)
    from botocore.exceptions import ClientError

    try:
        bucket.client.delete_object(
            Bucket=bucket.bucket, Key=stored.key, VersionId=stored.version_id
        )
    except ClientError as err:
        refused = err.response.get("Error", {}).get("Code", "refused")
    else:
        raise StorageError(
            f"bucket {bucket.bucket!r} let a COMPLIANCE-locked version be deleted: "
            "Object Lock is not enforced"
        )
    until = head.retain_until.date().isoformat() if head.retain_until else "?"
    where = "embedded moto S3, not durable" if ctx.settings.s3_endpoint_url else "S3"
    return (
        f"bucket {bucket.bucket} ({where}): object locked {head.lock_mode} until {until}; "
        f"deleting it was refused ({refused})"
    )


STAGES: list[tuple[str, Stage]] = [
    ("Embedded home", _stage_home),
    ("Policy as code", _stage_policies),
    ("Object Lock storage", _stage_object_lock),
]


@click.command("demo")
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="STEWARD_HOME for the demo (default: the configured one).",
)
def demo(home: Path | None) -> None:
    """Run the governance lifecycle on embedded defaults and print a summary."""
    from rich.console import Console

    from modelsteward.embedded import runtime
    from modelsteward.settings import load_settings

    console = Console()
    settings = load_settings(**({"home": home} if home else {}))
    started = time.perf_counter()
    summary: list[tuple[str, str, float]] = []
    with runtime(settings) as resolved:
        ctx = DemoContext(resolved)
        for title, stage in STAGES:
            t0 = time.perf_counter()
            with console.status(f"[bold]{title}[/]…"):
                line = stage(ctx)
            elapsed = time.perf_counter() - t0
            summary.append((title, line, elapsed))
            console.print(f"[green]✓[/] [bold]{title}[/] ({elapsed:.2f}s): {line}")
    console.print(
        f"\n[bold]Demo finished[/] in {time.perf_counter() - started:.1f}s; "
        f"{len(summary)} stages; home {settings.home}"
    )


def register(cli: click.Group) -> None:
    cli.add_command(demo)
