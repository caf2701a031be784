"""``steward up``: the long-running local stack, stopped cleanly by Ctrl-C.

Starts, in order: the embedded S3 server (unless S3 is configured), a local Prefect server
(unless ``PREFECT_API_URL`` is set; its database is ``PREFECT_API_DATABASE_CONNECTION_URL`` when
set, e.g. PostgreSQL, else SQLite under ``STEWARD_HOME``, fine for a demo only), every
deployment served with its schedule and event triggers (``python -m deployments.serve``), and the
HTTP service (``steward serve``). Children get the same resolved configuration through the
environment and are stopped in reverse order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess  # nosec B404
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

import click

from modelsteward.errors import ExternalServiceError


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ExternalServiceError(f"{what} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # nosec B310
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise ExternalServiceError(f"{what} did not answer on {url} within {timeout:.0f}s")


class Stack:
    """Child processes started in order and stopped in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(  # nosec B603
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        self.children.append((name, process))
        return process

    def stop(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                self._signal(process, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self._signal(process, signal.SIGKILL)
                    process.wait()
            self._signal(process, signal.SIGTERM)  # whatever it left in its process group
            click.echo(f"stopped {name}")
        self.children.clear()

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)  # each child leads its own session

    def failed(self) -> str | None:
        for name, process in self.children:
            if process.poll() is not None:
                return f"{name} exited with code {process.returncode}"
        return None


def _drain_pending_follow_ups(home: Path, api_url: str, attempts: int = 30) -> None:
    """Start kill-model runs recorded while no Prefect API answered, once the kill-model
    deployment is served (retried for about a minute)."""
    from modelsteward.service.runner import drain_pending

    os.environ["PREFECT_API_URL"] = api_url
    for _ in range(attempts):
        started, remaining = drain_pending(home)
        if started:
            click.echo(f"started {started} pending kill-model follow-up(s)")
        if remaining == 0:
            return
        time.sleep(2)


@click.command("up")
@click.option("--prefect-port", type=int, default=4200, show_default=True)
@click.option("--host", default=None, help="Bind address of the HTTP service.")
@click.option("--port", type=int, default=None, help="Port of the HTTP service.")
@click.option(
    "--run-for",
    type=float,
    default=None,
    hidden=True,
    help="Stop after this many seconds (for tests).",
)
def up(prefect_port: int, host: str | None, port: int | None, run_for: float | None) -> None:
    """Run the local stack: Prefect, the deployments with schedules and triggers, the service."""
    from modelsteward.embedded import runtime
    from modelsteward.settings import load_settings

    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    with runtime(load_settings()) as settings:
        log_dir = settings.home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env["STEWARD_HOME"] = str(settings.home)
        env["STEWARD_POLICY_DIR"] = str(settings.policy_dir)
        env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
        stack = Stack(log_dir)
        previous = signal.signal(signal.SIGINT, _stop), signal.signal(signal.SIGTERM, _stop)
        try:
            if not env.get("PREFECT_API_URL"):
                prefect_home = settings.home / "prefect"
                prefect_home.mkdir(exist_ok=True)
                env.setdefault("PREFECT_HOME", str(prefect_home))
                database = env.get("PREFECT_API_DATABASE_CONNECTION_URL")
                if not database:
                    click.echo(
                        "Prefect server on SQLite: fine for a demo; set "
                        "PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://... beyond one"
                    )
                server = stack.start(
                    "prefect-server",
                    [
                        sys.executable,
                        "-m",
                        "prefect",
                        "server",
                        "start",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(prefect_port),
                    ],
                    env,
                )
                env["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect_port}/api"
                _wait_http(f"{env['PREFECT_API_URL']}/health", server, "Prefect server", 120)
                click.echo(f"Prefect server  http://127.0.0.1:{prefect_port}  (UI and API)")
            else:
                click.echo(f"Prefect API     {env['PREFECT_API_URL']}")
            stack.start("deployments", [sys.executable, "-m", "deployments.serve"], env)
            service_host = host or settings.service_host
            service_port = port or settings.service_port
            service = stack.start(
                "service",
                [
                    sys.executable,
                    "-m",
                    "modelsteward.cli",
                    "serve",
                    "--host",
                    service_host,
                    "--port",
                    str(service_port),
                ],
                env,
            )
            _wait_http(f"http://{service_host}:{service_port}/healthz", service, "HTTP service", 60)
            click.echo(f"HTTP service    http://{service_host}:{service_port}")
            pending = threading.Thread(
                target=_drain_pending_follow_ups,
                args=(settings.home, env["PREFECT_API_URL"]),
                name="drain-pending-kills",
                daemon=True,
            )
            pending.start()
            click.echo(f"logs            {log_dir}\nCtrl-C stops everything.")
            started = time.monotonic()
            while not stopping:
                problem = stack.failed()
                if problem:
                    raise ExternalServiceError(f"{problem}; see {log_dir}")
                if run_for is not None and time.monotonic() - started > run_for:
                    break
                time.sleep(0.2)
        finally:
            stack.stop()
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])


def register(cli: click.Group) -> None:
    cli.add_command(up)
