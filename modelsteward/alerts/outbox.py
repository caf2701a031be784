"""The durable outbox: every alert is written here before anything is sent.

One SQLite file (``$STEWARD_HOME/outbox/outbox.db``, WAL, ``synchronous=FULL``). Each row is
one delivery (one alert to one Slack channel, e-mail address or PagerDuty service) keyed by an
idempotency key, so enqueueing the same alert twice stores it once. A row moves

    pending ──claim──► sending ──► delivered
       ▲                  │   └──► failed      (permanent error, or out of attempts)
       └──── retry ───────┘                    (transient error: backoff in next_attempt_at)

Claiming is a conditional UPDATE (``WHERE status='pending'``), so two processes never send
the same row; marking delivered is one UPDATE in its own transaction. A process that dies
between the send and the mark leaves the row in ``sending``; after ``lease_seconds`` it is
claimed again. That is the at-least-once window (see :mod:`modelsteward.alerts`).

The outbox also remembers the Slack ``ts`` of the first message per channel and incident, so
follow-ups thread under it across runs and restarts, and when each channel may get its next
message, so pacing holds across processes too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelsteward.errors import ExternalServiceError

__all__ = ["NewEntry", "Outbox", "OutboxEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    alert_key       TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    roles           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    incident_key    TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',
    via             TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL,
    claimed_at      REAL,
    last_error      TEXT,
    created_at      REAL    NOT NULL,
    delivered_at    REAL,
    remote_ref      TEXT,
    audited         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_due ON entries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS entries_incident ON entries (incident_key, channel);
CREATE TABLE IF NOT EXISTS channel_pace (
    target  TEXT PRIMARY KEY,
    open_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS slack_threads (
    target       TEXT NOT NULL,
    incident_key TEXT NOT NULL,
    channel_id   TEXT NOT NULL,
    ts           TEXT NOT NULL,
    PRIMARY KEY (target, incident_key)
);
"""

UNDELIVERED = ("pending", "sending", "failed")


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


@dataclass(frozen=True)
class NewEntry:
    """A delivery to write: everything but the bookkeeping."""

    id: str
    alert_key: str
    channel: str
    target: str
    roles: tuple[str, ...]
    action: str
    model: str
    version: str
    kind: str
    severity: str
    incident_key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class OutboxEntry:
    """One stored delivery and where it stands."""

    seq: int
    id: str
    alert_key: str
    channel: str
    target: str
    roles: tuple[str, ...]
    action: str
    model: str
    version: str
    kind: str
    severity: str
    incident_key: str
    payload: dict[str, Any] = field(repr=False)
    status: str
    via: str | None
    attempts: int
    next_attempt_at: float
    claimed_at: float | None
    last_error: str | None
    created_at: float
    delivered_at: float | None
    remote_ref: str | None
    audited: bool

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> OutboxEntry:
        data = dict(row)
        data["roles"] = tuple(r for r in data["roles"].split(",") if r)
        data["payload"] = json.loads(data["payload"])
        data["audited"] = bool(data["audited"])
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (times as ISO 8601 UTC), without the payload's internals."""
        return {
            "id": self.id,
            "alert_key": self.alert_key,
            "channel": self.channel,
            "target": self.target,
            "roles": list(self.roles),
            "action": self.action,
            "model": self.model,
            "version": self.version,
            "kind": self.kind,
            "severity": self.severity,
            "incident_key": self.incident_key,
            "title": self.payload.get("alert", {}).get("title"),
            "status": self.status,
            "via": self.via,
            "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at),
            "last_error": self.last_error,
            "created_at": _iso(self.created_at),
            "delivered_at": _iso(self.delivered_at),
            "remote_ref": self.remote_ref,
        }


class Outbox:
    """SQLite-backed store of deliveries. Safe to share between threads and processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise ExternalServiceError(
                f"cannot open the alert outbox at {self.path}: {err}; check that the "
                "directory is writable (STEWARD_HOME)"
            ) from err

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                raise ExternalServiceError(f"alert outbox {self.path}: {err}") from err

    def _select(
        self, where: str = "1", params: Sequence[Any] = (), *, tail: str = "ORDER BY seq"
    ) -> list[OutboxEntry]:
        # Only this module's fixed clauses are interpolated; values are always bound.
        sql = f"SELECT * FROM entries WHERE {where} {tail}"  # nosec B608
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [OutboxEntry._from_row(row) for row in rows]

    # --- writing --------------------------------------------------------------------------
    def add(self, entries: Iterable[NewEntry], *, now: float) -> list[OutboxEntry]:
        """Store ``entries`` (durably, before returning); existing ids are left alone."""
        entries = list(entries)
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO entries (id, alert_key, channel, target, roles, action, "
                "model, version, kind, severity, incident_key, payload, next_attempt_at, "
                "created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        e.id,
                        e.alert_key,
                        e.channel,
                        e.target,
                        ",".join(e.roles),
                        e.action,
                        e.model,
                        e.version,
                        e.kind,
                        e.severity,
                        e.incident_key,
                        json.dumps(e.payload, sort_keys=True, default=str),
                        now,
                        now,
                    )
                    for e in entries
                ],
            )
        return self.get_many([e.id for e in entries])

    def claim(self, ids: Sequence[str], *, now: float, lease_seconds: float) -> list[OutboxEntry]:
        """Take ``ids`` for sending; returns those this caller now owns (attempts + 1)."""
        owned: list[str] = []
        with self._tx() as db:
            for entry_id in ids:
                cursor = db.execute(
                    "UPDATE entries SET status='sending', claimed_at=?, attempts=attempts+1 "
                    "WHERE id=? AND (status='pending' OR (status='sending' AND claimed_at<?))",
                    (now, entry_id, now - lease_seconds),
                )
                if cursor.rowcount == 1:
                    owned.append(entry_id)
        return self.get_many(owned)

    def mark_delivered(
        self, ids: Sequence[str], *, via: str, remote_ref: str | None, now: float
    ) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE entries SET status='delivered', via=?, remote_ref=?, delivered_at=?, "
                "last_error=NULL WHERE id=? AND status='sending'",
                [(via, remote_ref, now, i) for i in ids],
            )

    def mark_retry(
        self, ids: Sequence[str], *, error: str, next_attempt_at: float, count: bool = True
    ) -> None:
        """Back to pending; ``count=False`` (server-directed waits) gives the attempt back."""
        undo = 0 if count else 1
        with self._tx() as db:
            db.executemany(
                "UPDATE entries SET status='pending', last_error=?, next_attempt_at=?, "
                "attempts=MAX(attempts-?, 0) WHERE id=? AND status='sending'",
                [(error[:2000], next_attempt_at, undo, i) for i in ids],
            )

    def mark_failed(self, ids: Sequence[str], *, error: str, via: str, now: float) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE entries SET status='failed', last_error=?, via=?, delivered_at=? "
                "WHERE id=? AND status='sending'",
                [(error[:2000], via, now, i) for i in ids],
            )

    def mark_audited(self, ids: Sequence[str]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE entries SET audited=1 WHERE id=?", [(i,) for i in ids])

    def requeue_failed(self, *, now: float) -> int:
        """Give every final failure a fresh set of attempts (after fixing a token, say)."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE entries SET status='pending', attempts=0, next_attempt_at=?, "
                "audited=0, delivered_at=NULL WHERE status='failed'",
                (now,),
            )
            return cursor.rowcount

    def prune(self, *, before: float, require_audited: bool = True) -> int:
        """Delete finished rows (delivered or failed) older than ``before``; returns how many.

        Kept whatever their age: unfinished rows, rows not yet in the audit ledger (when
        ``require_audited``), and the newest row of each open incident per channel and target
        (so a later :meth:`AlertDispatcher.resolve` still finds its PagerDuty incident and its
        Slack thread). An alert whose rows were pruned is new again if enqueued again.
        """
        audited = "AND audited=1" if require_audited else ""
        with self._tx() as db:
            cursor = db.execute(
                "DELETE FROM entries WHERE status IN ('delivered', 'failed') "  # nosec B608
                f"{audited} AND COALESCE(delivered_at, created_at) < ? "
                "AND NOT (action!='resolve' AND seq = (SELECT MAX(e2.seq) FROM entries e2 "
                "WHERE e2.incident_key=entries.incident_key AND e2.channel=entries.channel "
                "AND e2.target=entries.target))",
                (before,),
            )
            db.execute(
                "DELETE FROM slack_threads WHERE NOT EXISTS (SELECT 1 FROM entries e "
                "WHERE e.incident_key=slack_threads.incident_key AND e.channel='slack' "
                "AND e.target=slack_threads.target)"
            )
            return cursor.rowcount

    # --- reading --------------------------------------------------------------------------
    def get_many(self, ids: Sequence[str]) -> list[OutboxEntry]:
        found: list[OutboxEntry] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found.extend(self._select(f"id IN ({marks})", chunk))
        order = {entry_id: n for n, entry_id in enumerate(ids)}
        return sorted(found, key=lambda e: order[e.id])

    def due(self, *, now: float, lease_seconds: float) -> list[OutboxEntry]:
        """Pending rows whose time has come, and rows abandoned in ``sending``."""
        return self._select(
            "(status='pending' AND next_attempt_at<=?) OR (status='sending' AND claimed_at<?)",
            (now, now - lease_seconds),
        )

    def next_due_at(self, *, lease_seconds: float) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM entries "
                "WHERE status='pending' UNION ALL SELECT MIN(claimed_at)+? FROM entries "
                "WHERE status='sending')",
                (lease_seconds,),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def entries(self, *, statuses: Sequence[str] | None = None) -> list[OutboxEntry]:
        if not statuses:
            return self._select()
        marks = ",".join("?" * len(statuses))
        return self._select(f"status IN ({marks})", list(statuses))

    def undelivered(self) -> list[OutboxEntry]:
        return self.entries(statuses=UNDELIVERED)

    def unaudited(self) -> list[OutboxEntry]:
        return self._select("audited=0 AND status IN ('delivered', 'failed')")

    def latest(
        self,
        incident_key: str,
        *,
        channel: str,
        action: str,
        target: str | None = None,
        after: int = 0,
    ) -> OutboxEntry | None:
        """The newest row of ``incident_key`` on ``channel`` with ``action`` (not a failure),
        optionally only for ``target`` and only after ``seq``."""
        where = "incident_key=? AND channel=? AND action=? AND status!='failed' AND seq>?"
        params: list[Any] = [incident_key, channel, action, after]
        if target is not None:
            where += " AND target=?"
            params.append(target)
        found = self._select(where, params, tail="ORDER BY seq DESC LIMIT 1")
        return found[0] if found else None

    def paces(self) -> dict[str, float]:
        """When (wall-clock epoch seconds) each Slack channel may get its next message."""
        with self._lock:
            rows = self._db.execute("SELECT target, open_at FROM channel_pace").fetchall()
        return {r[0]: float(r[1]) for r in rows}

    def set_pace(self, target: str, open_at: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO channel_pace (target, open_at) VALUES (?, ?) "
                "ON CONFLICT(target) DO UPDATE SET open_at=excluded.open_at",
                (target, open_at),
            )

    def threads(self, incident_key: str) -> list[tuple[str, str, str]]:
        """(target, channel id, ts) of every Slack thread of ``incident_key``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT target, channel_id, ts FROM slack_threads WHERE incident_key=? "
                "ORDER BY target",
                (incident_key,),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def thread(self, target: str, incident_key: str) -> tuple[str, str] | None:
        """(channel id, ts) of the first Slack message of ``incident_key`` in ``target``."""
        with self._lock:
            row = self._db.execute(
                "SELECT channel_id, ts FROM slack_threads WHERE target=? AND incident_key=?",
                (target, incident_key),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def forget_threads(self, target: str, incident_keys: Iterable[str]) -> None:
        """The thread root was deleted: the next message of these incidents starts anew."""
        with self._tx() as db:
            db.executemany(
                "DELETE FROM slack_threads WHERE target=? AND incident_key=?",
                [(target, key) for key in set(incident_keys)],
            )

    def remember_threads(
        self, target: str, channel_id: str, ts: str, incident_keys: Iterable[str]
    ) -> None:
        """The first message of an incident in a channel becomes its thread; later ones keep it."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO slack_threads (target, incident_key, channel_id, ts) "
                "VALUES (?,?,?,?)",
                [(target, key, channel_id, ts) for key in set(incident_keys)],
            )
