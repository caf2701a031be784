"""API tokens of the HTTP service: random, shown once, stored only as SHA-256 hashes.

A token is ``stw_`` plus 32 random bytes (URL-safe base64). The table in
``$STEWARD_HOME/tokens.db`` keeps its SHA-256 hex digest, the role and a name: a stolen copy of
the file cannot be replayed, and a lookup is one indexed query on the digest.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from modelsteward.errors import ConfigError, ExternalServiceError

__all__ = ["ROLES", "TokenInfo", "TokenStore", "hash_token"]

ROLES = ("guardian", "operator", "owner")
PREFIX = "stw_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: str
    created_at: str
    digest: str


class TokenStore:
    """Hashed bearer tokens in one SQLite file."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS tokens (digest TEXT PRIMARY KEY, name TEXT NOT NULL,"
                " role TEXT NOT NULL, created_at TEXT NOT NULL)"
            )
        except (OSError, sqlite3.Error) as err:
            raise ExternalServiceError(f"token store {path}: cannot open ({err})") from err

    @classmethod
    def at_home(cls, home: Path) -> TokenStore:
        return cls(home / "tokens.db")

    def create(self, *, role: str, name: str) -> tuple[str, TokenInfo]:
        """A new token (returned once, never stored) and what is stored about it."""
        if role not in ROLES:
            raise ConfigError(f"--role: got {role!r}; expected one of {', '.join(ROLES)}")
        name = name.strip()
        if not name or len(name) > 200 or any(ord(ch) < 0x20 for ch in name):
            raise ConfigError(
                f"--name: got {name!r}; expected a printable name of 1 to 200 characters"
            )
        token = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(
            name=name, role=role, created_at=datetime.now(UTC).isoformat(), digest=hash_token(token)
        )
        with self._lock:
            self._conn.execute(
                "INSERT INTO tokens (digest, name, role, created_at) VALUES (?, ?, ?, ?)",
                (info.digest, info.name, info.role, info.created_at),
            )
        return token, info

    def lookup(self, token: str) -> TokenInfo | None:
        """What a presented token is, or ``None`` when it is unknown."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        with self._lock:
            row = self._conn.execute(
                "SELECT name, role, created_at FROM tokens WHERE digest = ?", (digest,)
            ).fetchone()
        return None if row is None else TokenInfo(row[0], row[1], row[2], digest)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
