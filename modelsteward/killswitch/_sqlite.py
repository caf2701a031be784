"""SQLite backend: one file, several processes on one machine (the embedded default).

WAL journal (readers never block the writer), ``synchronous=FULL`` (a change is on disk when
``set_state`` returns), ``BEGIN IMMEDIATE`` around each change so the global revision is bumped
and the state written in one transaction. Watchers poll ``PRAGMA data_version``, which changes
only when *another* connection commits and costs a few microseconds, and read the revision only
then.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from modelsteward.errors import ExternalServiceError
from modelsteward.killswitch._base import (
    KillSwitchStore,
    SwitchState,
    _check_change,
    utcnow,
    validate_model_name,
)

__all__ = ["SqliteStore"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS switch (
    model TEXT PRIMARY KEY,
    active INTEGER NOT NULL,
    version TEXT,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS claims_expires ON claims (expires_at);
"""

_COLUMNS = "model, active, version, actor, role, reason, changed_at, revision"

#: How often :meth:`SqliteStore.wait_for_change` looks at ``data_version``.
POLL_INTERVAL_SECONDS = 0.002


def _row_to_state(row: tuple[object, ...]) -> SwitchState:
    model, active, version, actor, role, reason, changed_at, revision = row
    return SwitchState.from_dict(
        {
            "model": model,
            "active": active,
            "version": version,
            "actor": actor,
            "role": role,
            "reason": reason,
            "changed_at": changed_at,
            "revision": revision,
        }
    )


class SqliteStore(KillSwitchStore):
    """Kill-switch store in one SQLite file (``sqlite:///PATH``)."""

    supports_push = False

    def __init__(self, path: str | Path, *, poll_interval_seconds: float = POLL_INTERVAL_SECONDS):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.poll_interval_seconds = poll_interval_seconds
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closed = False
        self._connections: list[sqlite3.Connection] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            with self._lock:
                conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise ExternalServiceError(
                f"kill-switch store {self.url}: cannot open ({err}); check the path and its "
                "permissions (STEWARD_KILLSWITCH_URL / STEWARD_HOME)"
            ) from err

    # One connection per thread: sqlite3 connections are not shared across threads, and
    # data_version is per connection (a watcher thread sees the commits of every other one).
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise ExternalServiceError(f"kill-switch store {self.url} is closed")
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            self._local.file_id = self._file_id()
            with self._lock:
                self._connections.append(conn)
        return conn

    def _file_id(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _replaced(self) -> bool:
        """True when the file this thread's connection reads is no longer the store's file
        (deleted, or replaced by a restore): that connection would never see another kill."""
        opened = getattr(self._local, "file_id", None)
        if getattr(self._local, "conn", None) is None:
            return False
        if opened is not None and self._file_id() == opened:
            return False
        conn = self._local.conn
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        conn.close()
        log.warning("event=killswitch_store_replaced path=%s action=reopen", self.path)
        return True

    def _fail(self, what: str, err: sqlite3.Error) -> ExternalServiceError:
        return ExternalServiceError(f"kill-switch store {self.url}: {what} failed ({err})")

    def set_state(
        self,
        model: str,
        *,
        active: bool,
        actor: str,
        role: str,
        reason: str,
        version: str | None = None,
    ) -> SwitchState:
        _check_change(model, actor, role, reason, version)
        conn = self._conn()
        changed_at = utcnow()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                (revision,) = conn.execute(
                    "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value"
                ).fetchone()
                conn.execute(
                    f"INSERT OR REPLACE INTO switch ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        model,
                        int(active),
                        version,
                        actor,
                        role,
                        reason,
                        changed_at.isoformat(),
                        revision,
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise self._fail(f"set_state({model!r})", err) from err
        state = SwitchState(
            model=model,
            active=active,
            version=version,
            actor=actor,
            role=role,
            reason=reason,
            changed_at=changed_at,
            revision=int(revision),
        )
        log.info(
            "event=killswitch_set model=%s active=%s revision=%d actor=%s role=%s",
            model,
            active,
            revision,
            actor,
            role,
        )
        return state

    def get_state(self, model: str) -> SwitchState | None:
        validate_model_name(model)
        try:
            row = (
                self._conn()
                .execute(f"SELECT {_COLUMNS} FROM switch WHERE model = ?", (model,))
                .fetchone()
            )
        except sqlite3.Error as err:
            raise self._fail(f"get_state({model!r})", err) from err
        return None if row is None else _row_to_state(row)

    def all_states(self) -> dict[str, SwitchState]:
        try:
            rows = self._conn().execute(f"SELECT {_COLUMNS} FROM switch ORDER BY model").fetchall()
        except sqlite3.Error as err:
            raise self._fail("all_states()", err) from err
        return {row[0]: _row_to_state(row) for row in rows}

    def revision(self) -> int:
        try:
            row = self._conn().execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        except sqlite3.Error as err:
            raise self._fail("revision()", err) from err
        return int(row[0])

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version`` of this thread's connection (cheap change probe)."""
        try:
            return int(self._conn().execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as err:
            raise self._fail("data_version", err) from err

    def _changes_since(self, known_revision: int) -> tuple[int, dict[str, SwitchState]]:
        """The global revision and every state written after ``known_revision``, in one query."""
        try:
            rows = (
                self._conn()
                .execute(
                    f"SELECT meta.value, {', '.join('s.' + c for c in _COLUMNS.split(', '))} "
                    "FROM meta LEFT JOIN switch AS s ON s.revision > ? "
                    "WHERE meta.key = 'revision'",
                    (known_revision,),
                )
                .fetchall()
            )
        except sqlite3.Error as err:
            raise self._fail("changes", err) from err
        revision = int(rows[0][0])
        changed = {row[1]: _row_to_state(row[1:]) for row in rows if row[1] is not None}
        return revision, changed

    def wait_for_changes(
        self, known_revision: int, timeout_seconds: float
    ) -> tuple[int, dict[str, SwitchState] | None]:
        # None means "reload everything": the file was replaced, or its revision went back
        # (a restore or reset), so changes since ``known_revision`` cannot be listed.
        if self._replaced():
            return self.revision(), None
        revision, changed = self._changes_since(known_revision)
        if revision < known_revision:
            return revision, None
        if revision != known_revision:
            return revision, changed
        deadline = time.monotonic() + timeout_seconds
        seen = self.data_version()
        while time.monotonic() < deadline:
            time.sleep(self.poll_interval_seconds)
            if self._replaced():
                return self.revision(), None
            version = self.data_version()
            if version != seen:
                seen = version
                revision, changed = self._changes_since(known_revision)
                if revision < known_revision:
                    return revision, None
                if revision != known_revision:
                    return revision, changed
        return self._changes_since(known_revision)

    def wait_for_change(self, known_revision: int, timeout_seconds: float) -> int:
        current = self.revision()
        if current != known_revision:
            return current
        deadline = time.monotonic() + timeout_seconds
        seen = self.data_version()
        while time.monotonic() < deadline:
            time.sleep(self.poll_interval_seconds)
            version = self.data_version()
            if version != seen:
                seen = version
                current = self.revision()
                if current != known_revision:
                    return current
        return self.revision()

    def claim_once(self, key: str, *, ttl_seconds: float = 7 * 86400) -> bool:
        now = time.time()
        conn = self._conn()
        try:
            # No fsync of its own: the next state change's FULL commit syncs the WAL with it, and
            # a claim lost to a power cut only lets a replay re-run an idempotent kill.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM claims WHERE expires_at < ?", (now,))
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO claims (key, expires_at) VALUES (?, ?)",
                    (key, now + ttl_seconds),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise self._fail("claim_once", err) from err
        finally:
            conn.execute("PRAGMA synchronous=FULL")
        return cursor.rowcount == 1

    def release(self, key: str) -> None:
        try:
            self._conn().execute("DELETE FROM claims WHERE key = ?", (key,))
        except sqlite3.Error as err:
            raise self._fail("release", err) from err

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing is best effort
                log.debug("event=sqlite_close_failed path=%s", self.path)
        self._local = threading.local()
