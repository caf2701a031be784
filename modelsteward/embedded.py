"""The embedded stack: what the CLI starts when no real service is configured.

Only the object store needs a process of its own: a moto S3 server on a free loopback port
(it enforces Object Lock, but keeps everything in memory: **not durable**, for demos and tests).
MLflow and the kill-switch store default to SQLite files under ``STEWARD_HOME`` and need
nothing started.

:func:`runtime` is the context every command runs in: it creates ``STEWARD_HOME``, starts the
embedded S3 server when needed, exports its address (so flow runs in child processes see the
same configuration), and yields the resolved settings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess  # nosec B404
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from modelsteward.errors import ExternalServiceError
from modelsteward.settings import StewardSettings, load_settings

__all__ = ["EmbeddedS3", "free_port", "runtime"]

log = logging.getLogger(__name__)

_EMBEDDED_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "steward-embedded",
    "AWS_SECRET_ACCESS_KEY": "steward-embedded",  # moto accepts any key
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedS3:
    """A moto S3 server in a child process, bound to loopback only."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None
    ):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_seconds: float = 30.0) -> EmbeddedS3:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((self.host, self.port))
            except OSError as err:
                raise ExternalServiceError(
                    f"embedded S3 cannot bind {self.host}:{self.port}: {err.strerror}"
                ) from err
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "DO_NOT_TRACK": "1"}
        self._process = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        if out is not subprocess.DEVNULL:
            out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ExternalServiceError(
                    f"embedded S3 (moto) exited with code {self._process.returncode} "
                    f"on {self.endpoint_url}"
                )
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):  # nosec B310
                    pass
                log.info("event=embedded_s3_started endpoint=%s durable=false", self.endpoint_url)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise ExternalServiceError(
            f"embedded S3 (moto) did not answer on {self.endpoint_url} within {timeout_seconds}s"
        )

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        log.info("event=embedded_s3_stopped endpoint=%s", self.endpoint_url)

    def __enter__(self) -> EmbeddedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def runtime(settings: StewardSettings | None = None) -> Iterator[StewardSettings]:
    """Resolved settings with the embedded parts running; stops them on exit.

    When S3 is embedded, ``AWS_ENDPOINT_URL`` and throw-away credentials are exported for the
    duration, so every client (and every child process) talks to the same server.
    """
    settings = settings or load_settings()
    settings.ensure_home()
    if not settings.embedded_s3:
        yield settings
        return
    server = EmbeddedS3(log_path=settings.home / "embedded-s3.log").start()
    exported = {"AWS_ENDPOINT_URL": server.endpoint_url, **_EMBEDDED_CREDENTIALS}
    saved = {name: os.environ.get(name) for name in exported}
    os.environ.update(exported)
    try:
        yield settings.model_copy(update={"s3_endpoint_url": server.endpoint_url})
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
