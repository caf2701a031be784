"""The ``steward`` command line.

Each command group lives in its own module and imports what it needs inside the command, so
``steward --help`` and the serving-path commands start without Prefect, MLflow or pandas.
Every :class:`~modelsteward.errors.StewardError` becomes one line on stderr and the exit code
of :data:`~modelsteward.errors.EXIT_CODES`; never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from modelsteward.errors import StewardError, exit_code_for

__all__ = ["cli", "main"]

# Nothing the CLI starts phones home.
_QUIET_ENV = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


class _StewardGroup(click.Group):
    """A click group that turns our errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StewardError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            ctx.exit(exit_code_for(err))


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@click.group(
    cls=_StewardGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="model-steward", prog_name="steward")
def cli(verbose: int) -> None:
    """Model Steward: who owns each production model, whether it may serve, whether it still
    behaves, and who decided, as code.

    Runs on embedded defaults under STEWARD_HOME (./.steward); each part moves to a real
    service with one variable (see `steward config`).
    """
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    _configure_logging(verbose)


def _register() -> None:
    from modelsteward.cli import (
        alerts,
        audit,
        config,
        demo,
        evaluate,
        killswitch,
        onboard,
        policy,
        report,
        up,
    )

    for module in (alerts, audit, config, demo, evaluate, killswitch, onboard, policy, report, up):
        module.register(cli)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="steward")
