"""Audit records: the vocabulary of actions, the record model and its canonical encoding.

Canonical encoding (what ``hash`` is computed over)
---------------------------------------------------
The hash of a record is ``sha256(canonical(record without "hash"))`` written as 64 lowercase hex
digits. ``canonical`` is JSON with:

- object keys sorted by Unicode code point (equivalently by their UTF-8 bytes), at every depth;
- no whitespace at all (``{"a":1,"b":[1,2]}``);
- UTF-8 output; only ``"``, ``\\`` and the control characters U+0000..U+001F are escaped
  (``\\b \\f \\n \\r \\t`` by name, the others as ``\\u00XX`` in lowercase hex); every other
  character, including non-ASCII, is written as itself;
- integers in decimal, restricted to the signed 64-bit range;
- floats finite only (NaN and infinities are refused), written in the shortest form that
  round-trips (Ryu), with an exponent when the decimal exponent is below -4 or at least 16:
  ``0.1``, ``1.0``, ``100000.0``, ``1e-7``, ``1e+16``;
- ``true``, ``false``, ``null`` as usual; tuples become arrays.

This is exactly what ``orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)`` produces, and it depends
on no Python version (``json.dumps`` would not do: it writes ``1e-07``). A golden file
(``tests/data/audit_golden.jsonl``) pins the bytes and the hashes.

Line format on disk
-------------------
One record per line: the canonical body with ``,"hash":"<64 hex>"`` inserted before its final
``}``, then ``\\n``. The body is recovered from a line by removing the fixed-size 75-byte suffix,
so verification hashes the exact bytes that were written, without re-encoding.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from modelsteward.errors import AuditRecordError

__all__ = [
    "GENESIS_HASH",
    "AuditAction",
    "Record",
    "Role",
    "body_of_line",
    "canonical_json",
    "canonical_record",
    "check_line",
    "format_ts",
    "parse_ts",
    "record_hash",
]

#: ``prev_hash`` of the first record (seq 1).
GENESIS_HASH = "0" * 64

_SORT = orjson.OPT_SORT_KEYS
_HASH_SUFFIX_LEN = len(b',"hash":"') + 64 + len(b'"}')  # 75
_MAX_INT = 2**63
_MAX_DEPTH = 32
_MAX_TEXT = 256
_MAX_DETAILS_BYTES = 64 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_CONTROL = re.compile(r"[\x00-\x1f]")


class AuditAction(enum.StrEnum):
    """The fixed vocabulary of governance actions. Values are stable: they are in the hashes."""

    MODEL_REGISTERED = "model.registered"
    ARTIFACT_SCANNED = "artifact.scanned"
    ARTIFACT_REJECTED = "artifact.rejected"
    ARTIFACT_SIGNED = "artifact.signed"
    ARTIFACT_STORED = "artifact.stored"
    ARTIFACT_VERIFIED = "artifact.verified"
    BASELINE_RECORDED = "baseline.recorded"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_REJECTED = "approval.rejected"
    MODEL_PROMOTED = "model.promoted"
    ONBOARDING_FAILED = "onboarding.failed"
    QUALITY_CHECKED = "quality.checked"
    DRIFT_EVALUATED = "drift.evaluated"
    PERFORMANCE_EVALUATED = "performance.evaluated"
    ALERT_SENT = "alert.sent"
    ALERT_FAILED = "alert.failed"
    MODEL_DISABLED = "model.disabled"
    MODEL_ENABLED = "model.enabled"
    ACCESS_REFUSED = "access.refused"
    WEBHOOK_RECEIVED = "webhook.received"
    TOKEN_CREATED = "token.created"
    REPORT_GENERATED = "report.generated"
    LEDGER_SEALED = "ledger.sealed"
    LEDGER_KEY_ROTATED = "ledger.key_rotated"


class Role(enum.StrEnum):
    """Who acted: one of the three RACI roles, the system itself, or PagerDuty."""

    OWNER = "owner"
    GUARDIAN = "guardian"
    OPERATOR = "operator"
    SYSTEM = "system"
    PAGERDUTY = "pagerduty"


_ACTIONS = {a.value: a for a in AuditAction}
_ROLES = {r.value: r for r in Role}


def format_ts(moment: datetime) -> str:
    """``2026-11-25T20:47:22.123456Z``: UTC, always microseconds, sortable as text."""
    if moment.tzinfo is None:
        raise AuditRecordError(f"timestamp {moment!r} has no timezone; expected an aware datetime")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def parse_ts(text: str) -> datetime:
    """The aware UTC datetime of a :func:`format_ts` string."""
    if not _TS.fullmatch(text):
        raise ValueError(f"got {text!r}, expected a UTC time like 2026-11-25T20:47:22.123456Z")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def canonical_json(value: Any) -> bytes:
    """The canonical encoding of ``value`` (see the module docstring)."""
    return orjson.dumps(value, option=_SORT)


def record_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def body_of_line(line: bytes) -> bytes:
    """The canonical body of a stored line (without its trailing newline)."""
    return line[:-_HASH_SUFFIX_LEN] + b"}"


_FIELDS = frozenset(
    ("action", "actor", "details", "model", "prev_hash", "role", "seq", "ts", "version")
)


def check_line(line: bytes) -> tuple[int, str, str] | None:
    """(seq, prev_hash, hash) of a stored line (no newline) that is fully well-formed, else None.

    Well-formed: the hash suffix is in place, the body hashes to it, and the body is canonical
    JSON holding exactly the record fields with a known action and role.
    """
    if len(line) < 76 or line[-75:-66] != b',"hash":"' or line[-2:] != b'"}':
        return None
    body = line[:-75] + b"}"
    digest = line[-66:-2]
    if hashlib.sha256(body).hexdigest().encode() != digest:
        return None
    data = canonical_record(body)
    if data is None:
        return None
    return data["seq"], data["prev_hash"], digest.decode()


def canonical_record(body: bytes) -> dict[str, Any] | None:
    """The record fields of ``body`` if it is canonical JSON holding exactly them (with a
    known action and role and an integer seq), else None."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if (
        type(data) is not dict
        or data.keys() != _FIELDS
        or type(data["seq"]) is not int
        or not isinstance(data["prev_hash"], str)
        or data["action"] not in _ACTIONS
        or data["role"] not in _ROLES
        or orjson.dumps(data, option=_SORT) != body
    ):
        return None
    return data


def _check_text(name: str, value: Any, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AuditRecordError(
            f"audit record field {name!r}: got {value!r}, expected a non-empty string"
        )
    if len(value) > _MAX_TEXT:
        raise AuditRecordError(
            f"audit record field {name!r}: got {len(value)} characters, "
            f"expected at most {_MAX_TEXT}"
        )
    if _CONTROL.search(value):
        raise AuditRecordError(
            f"audit record field {name!r}: got {value!r}; control characters are not allowed"
        )
    return str(value)


def _where(path: tuple[Any, ...]) -> str:
    """``details.a[0].b`` for the lazily built path ``(((("details",), "a"), 0), "b")``."""
    parts: list[str] = []
    while len(path) == 2:
        path, part = path
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return str(path[0]) + "".join(reversed(parts))


def _plain(value: Any, path: tuple[Any, ...], depth: int) -> Any:
    """``value`` as plain JSON types, or :class:`AuditRecordError` naming the first bad path.

    Exact built-in types take the fast path; subclasses, enums and other mappings and
    sequences are converted; anything else is refused.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if not -_MAX_INT <= value < _MAX_INT:
            raise AuditRecordError(
                f"{_where(path)}: integer {value} is outside the signed 64-bit range"
            )
        return value
    if kind is float:
        if not math.isfinite(value):
            raise AuditRecordError(
                f"{_where(path)}: got {value!r}; only finite numbers can be recorded"
            )
        return value
    if depth >= _MAX_DEPTH:
        raise AuditRecordError(f"{_where(path)}: nested deeper than {_MAX_DEPTH} levels")
    if kind is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                if not isinstance(key, str):
                    raise AuditRecordError(f"{_where(path)}: key {key!r} is not a string")
                key = str(key.value if isinstance(key, enum.Enum) else key)
            out[key] = _plain(item, (path, key), depth + 1)
        return out
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return [_plain(item, (path, i), depth + 1) for i, item in enumerate(value)]
    if isinstance(value, enum.Enum):
        return _plain(value.value, path, depth)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return _plain(int(value) if isinstance(value, int) else float(value), path, depth)
    if isinstance(value, datetime):
        raise AuditRecordError(
            f"{_where(path)}: got a datetime; record it as text (format_ts or isoformat)"
        )
    raise AuditRecordError(
        f"{_where(path)}: got {type(value).__name__}; expected JSON values "
        "(str, int, float, bool, None, list, dict)"
    )


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated record before it has a place in the chain."""

    actor: str
    role: str
    action: str
    model: str | None
    version: str | None
    details: dict[str, Any]

    @classmethod
    def build(
        cls,
        *,
        action: AuditAction | str,
        actor: str,
        role: Role | str,
        model: str | None = None,
        version: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Draft:
        """Validate every field; raise :class:`AuditRecordError` naming the first bad one."""
        action_value = action.value if isinstance(action, enum.Enum) else action
        if action_value not in _ACTIONS:
            raise AuditRecordError(
                f"audit record field 'action': got {action!r}, expected one of "
                f"{', '.join(sorted(_ACTIONS))} (modelsteward.audit.AuditAction)"
            )
        role_value = role.value if isinstance(role, enum.Enum) else role
        if role_value not in _ROLES:
            raise AuditRecordError(
                f"audit record field 'role': got {role!r}, expected one of {', '.join(_ROLES)}"
            )
        if version is not None and not isinstance(version, str):
            version = (
                str(version)
                if isinstance(version, int) and not isinstance(version, bool)
                else version
            )
        if details is not None and not isinstance(details, Mapping):
            raise AuditRecordError(
                f"audit record field 'details': got {type(details).__name__}, expected a dict"
            )
        plain = _plain(dict(details or {}), ("details",), 0)
        size = len(canonical_json(plain))
        if size > _MAX_DETAILS_BYTES:
            raise AuditRecordError(
                f"audit record field 'details': {size} bytes encoded, expected at most "
                f"{_MAX_DETAILS_BYTES}; store large evidence elsewhere and record its URI"
            )
        return cls(
            actor=_check_text("actor", actor, optional=False) or "",
            role=str(role_value),
            action=str(action_value),
            model=_check_text("model", model, optional=True),
            version=_check_text("version", version, optional=True),
            details=plain,
        )

    def seal(self, *, seq: int, ts: str, prev_hash: str) -> tuple[bytes, str]:
        """The stored line (with newline) and hash of this record at ``seq`` after ``prev_hash``."""
        body = canonical_json(
            {
                "action": self.action,
                "actor": self.actor,
                "details": self.details,
                "model": self.model,
                "prev_hash": prev_hash,
                "role": self.role,
                "seq": seq,
                "ts": ts,
                "version": self.version,
            }
        )
        digest = hashlib.sha256(body).hexdigest()
        return body[:-1] + b',"hash":"' + digest.encode() + b'"}\n', digest


@dataclass(frozen=True, slots=True)
class Record:
    """One governance action, as stored in the ledger."""

    seq: int
    ts: datetime
    actor: str
    role: str
    action: AuditAction | str
    model: str | None
    version: str | None
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    @classmethod
    def from_line(cls, line: bytes) -> Record:
        """Parse one stored line (the hash is not checked here: see :mod:`.verify`)."""
        data = orjson.loads(line)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        action = data["action"]
        return cls(
            seq=int(data["seq"]),
            ts=parse_ts(data["ts"]),
            actor=data["actor"],
            role=data["role"],
            action=_ACTIONS.get(action, action),
            model=data.get("model"),
            version=data.get("version"),
            details=data.get("details") or {},
            prev_hash=data["prev_hash"],
            hash=data.get("hash", ""),
        )

    def body(self) -> dict[str, Any]:
        """The hashed fields (everything but ``hash``) as plain JSON values."""
        return {
            "action": str(self.action),
            "actor": self.actor,
            "details": self.details,
            "model": self.model,
            "prev_hash": self.prev_hash,
            "role": self.role,
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "version": self.version,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}

    def computed_hash(self) -> str:
        return record_hash(canonical_json(self.body()))

    def is_sealed_correctly(self) -> bool:
        return bool(_HEX64.fullmatch(self.hash)) and self.computed_hash() == self.hash
