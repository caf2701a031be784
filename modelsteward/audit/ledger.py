"""The :class:`Ledger`: append, read, seal and verify the audit trail."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from modelsteward.audit.records import AuditAction, Draft, Record, Role, format_ts
from modelsteward.audit.store import LocalStore

if TYPE_CHECKING:
    from modelsteward.audit.seal import SealReport
    from modelsteward.audit.verify import VerifyReport
    from modelsteward.objectstore import LockedBucket
    from modelsteward.settings import StewardSettings

__all__ = ["Ledger"]

log = logging.getLogger(__name__)


def _as_ts(value: datetime | date | str | None, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as err:
            raise ValueError(
                f"{name}: got {value!r}, expected an ISO 8601 date or time (2026-01-31, "
                "2026-01-31T12:00:00Z)"
            ) from err
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_ts(value)


class Ledger:
    """The tamper-evident audit ledger of one ``STEWARD_HOME``.

    Safe to share between threads; any number of processes may open the same directory.
    """

    def __init__(
        self,
        directory: Path,
        *,
        key_path: Path | None = None,
        segment_max_records: int = 10_000,
        segment_max_age_seconds: float = 3600.0,
    ) -> None:
        self.directory = Path(directory)
        self.key_path = key_path or self.directory.parent / "keys" / "audit-ed25519.pem"
        self.segment_max_records = segment_max_records
        self.segment_max_age_seconds = segment_max_age_seconds
        self.store = LocalStore(self.directory)

    @classmethod
    def from_settings(cls, settings: StewardSettings) -> Ledger:
        return cls(
            settings.ledger_dir,
            key_path=settings.audit_key_path,
            segment_max_records=settings.audit_segment_max_records,
            segment_max_age_seconds=settings.audit_segment_max_age_seconds,
        )

    @property
    def path(self) -> Path:
        """The local JSON Lines file."""
        return self.store.path

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- write ----------------------------------------------------------------------------
    def append(
        self,
        *,
        action: AuditAction | str,
        actor: str,
        role: Role | str,
        model: str | None = None,
        version: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Record:
        """Record one governance action; it is on disk (fdatasync) when this returns.

        Raises :class:`~modelsteward.errors.AuditRecordError` (nothing written) when a field is
        invalid, :class:`~modelsteward.errors.StorageError` when the disk refuses.
        """
        draft = Draft.build(
            action=action, actor=actor, role=role, model=model, version=version, details=details
        )
        seq, ts, prev_hash, digest = self.store.append(draft)
        return Record(
            seq=seq,
            ts=ts.astimezone(UTC),
            actor=draft.actor,
            role=draft.role,
            action=AuditAction(draft.action),
            model=draft.model,
            version=draft.version,
            details=draft.details,
            prev_hash=prev_hash,
            hash=digest,
        )

    # --- read -----------------------------------------------------------------------------
    def records(
        self,
        model: str | None = None,
        action: AuditAction | str | None = None,
        actor: str | None = None,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> Iterator[Record]:
        """Records in chain order, filtered; ``since`` is inclusive, ``until`` exclusive.

        Hashes are not checked here: call :meth:`verify` for that.
        """
        since_ts = _as_ts(since, "since")
        until_ts = _as_ts(until, "until")
        action_value = str(action.value if isinstance(action, AuditAction) else action)
        needles: list[bytes] = []
        if model is not None:
            needles.append(b'"model":' + orjson.dumps(model))
        if action is not None:
            needles.append(b'"action":' + orjson.dumps(action_value))
        if actor is not None:
            needles.append(b'"actor":' + orjson.dumps(actor))
        for _, line in self.store.lines():
            if needles and not all(needle in line for needle in needles):
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("event=ledger_unreadable_line path=%s", self.path)
                continue
            if model is not None and data.get("model") != model:
                continue
            if action is not None and data.get("action") != action_value:
                continue
            if actor is not None and data.get("actor") != actor:
                continue
            ts = data.get("ts", "")
            if since_ts is not None and ts < since_ts:
                continue
            if until_ts is not None and ts >= until_ts:
                continue
            yield Record.from_dict(data)

    def last(self) -> Record | None:
        """The last complete record, or None for an empty ledger."""
        line = self.store.last_line()
        return None if line is None else Record.from_line(line)

    def export(self, out: IO[bytes]) -> int:
        """Write the stored lines, byte for byte, as JSON Lines; returns the record count."""
        count = 0
        for _, line in self.store.lines():
            out.write(line + b"\n")
            count += 1
        return count

    # --- seal and verify --------------------------------------------------------------------
    def seal(self, bucket: LockedBucket, *, force: bool = False) -> SealReport:
        """Seal closed segments into ``bucket`` (Object Lock) with signed checkpoints."""
        from modelsteward.audit.seal import Sealer

        return Sealer(self).seal(bucket, force=force)

    def verify(
        self,
        bucket: LockedBucket | None = None,
        *,
        workers: int | None = None,
        strict: bool = False,
    ) -> VerifyReport:
        """Check the chain, the checkpoints and (with ``bucket``) the sealed segments.

        Returns a :class:`~modelsteward.audit.verify.VerifyReport`; ``report.ok`` is False and
        ``report.error`` a :class:`~modelsteward.errors.LedgerIntegrityError` naming the first
        bad seq when anything is wrong (``report.raise_if_broken()`` raises it). ``strict``
        also checks every record's canonical form (sealing already checks what it seals).
        """
        from modelsteward.audit.verify import verify_ledger

        return verify_ledger(self, bucket, workers=workers, strict=strict)
