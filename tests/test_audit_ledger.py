"""The ledger's public API: append, read, filter, refuse bad records, survive crashes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from modelsteward.audit import GENESIS_HASH, AuditAction, Ledger, Record, Role
from modelsteward.errors import AuditRecordError, LedgerIntegrityError, StorageError


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger", key_path=tmp_path / "keys" / "audit.pem")


def _fill(ledger: Ledger) -> list[Record]:
    return [
        ledger.append(
            action=AuditAction.MODEL_REGISTERED,
            actor="olivia@example.com",
            role=Role.OWNER,
            model="fraud-detector",
            version="1",
            details={"run_id": "abc"},
        ),
        ledger.append(
            action=AuditAction.APPROVAL_GRANTED,
            actor="gina@example.com",
            role="guardian",
            model="fraud-detector",
            version="1",
            details={"risk_assessment": "low", "score": 0.25},
        ),
        ledger.append(
            action="model.disabled",
            actor="pagerduty",
            role="pagerduty",
            model="churn",
            details={"incident": "Q1"},
        ),
    ]


def test_append_chains_records_and_returns_them(ledger: Ledger) -> None:
    first, second, third = _fill(ledger)
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert all(r.is_sealed_correctly() for r in (first, second, third))
    assert second.action is AuditAction.APPROVAL_GRANTED
    assert second.ts.tzinfo is UTC
    assert list(ledger.records()) == [first, second, third]
    assert ledger.last() == third


def test_records_filter_by_model_action_actor_and_time(ledger: Ledger) -> None:
    _, second, third = _fill(ledger)
    assert [r.seq for r in ledger.records(model="fraud-detector")] == [1, 2]
    assert [r.seq for r in ledger.records(action=AuditAction.MODEL_DISABLED)] == [3]
    assert [r.seq for r in ledger.records(action="approval.granted")] == [2]
    assert [r.seq for r in ledger.records(actor="gina@example.com")] == [2]
    assert [r.seq for r in ledger.records(model="churn", actor="gina@example.com")] == []
    assert [r.seq for r in ledger.records(since=second.ts)] == [2, 3]
    assert [r.seq for r in ledger.records(until=second.ts)] == [1]
    later = (third.ts + timedelta(seconds=1)).isoformat()
    assert list(ledger.records(since=later)) == []
    assert [r.seq for r in ledger.records(since="2000-01-01", until=later)] == [1, 2, 3]
    today = second.ts.date()
    assert [r.seq for r in ledger.records(since=today)] == [1, 2, 3]
    assert list(ledger.records(until=today)) == []
    with pytest.raises(ValueError, match="since: got 'yesterday'"):
        list(ledger.records(since="yesterday"))


def test_a_detail_named_like_a_field_does_not_fool_the_filter(ledger: Ledger) -> None:
    ledger.append(
        action=AuditAction.ALERT_SENT,
        actor="system",
        role="system",
        model="a",
        details={"model": "b"},
    )
    assert list(ledger.records(model="b")) == []


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"action": "model.exploded"}, "field 'action': got 'model.exploded'"),
        ({"role": "intern"}, "field 'role': got 'intern'"),
        ({"actor": ""}, "field 'actor'"),
        ({"actor": "a\nb"}, "control characters"),
        ({"details": {"score": float("nan")}}, r"details.score: got nan"),
        ({"details": {"at": datetime.now(UTC)}}, "details.at: got a datetime"),
        ({"details": {"blob": object()}}, "details.blob: got object"),
        ({"details": {1: "x"}}, "key 1 is not a string"),
        ({"details": {"n": 2**70}}, "signed 64-bit"),
        ({"details": {"x": "y" * 70_000}}, "at most 65536"),
        ({"details": ["not", "a", "dict"]}, "expected a dict"),
    ],
)
def test_invalid_record_is_refused_and_nothing_is_written(
    ledger: Ledger, fields: dict, match: str
) -> None:
    good = {"action": "model.enabled", "actor": "gina@example.com", "role": "guardian"}
    with pytest.raises(AuditRecordError, match=match):
        ledger.append(**{**good, **fields})
    assert list(ledger.records()) == []
    assert not ledger.path.exists() or ledger.path.stat().st_size == 0


def test_details_are_normalised_to_plain_json(ledger: Ledger) -> None:
    record = ledger.append(
        action=AuditAction.DRIFT_EVALUATED,
        actor="system",
        role=Role.SYSTEM,
        model="m",
        version=3,  # type: ignore[arg-type]
        details={"columns": ("a", "b"), "severity": AuditAction.ALERT_SENT, "ok": True},
    )
    assert record.version == "3"
    assert record.details == {"columns": ["a", "b"], "severity": "alert.sent", "ok": True}
    assert list(ledger.records()) == [record]


def test_two_ledger_objects_on_one_directory_form_one_chain(tmp_path: Path) -> None:
    one = Ledger(tmp_path / "ledger")
    two = Ledger(tmp_path / "ledger")
    a = one.append(action="token.created", actor="x", role="guardian")
    b = two.append(action="token.created", actor="y", role="guardian")
    c = one.append(action="token.created", actor="z", role="guardian")
    assert (a.seq, b.seq, c.seq) == (1, 2, 3)
    assert b.prev_hash == a.hash and c.prev_hash == b.hash


def test_partial_last_line_is_discarded_with_a_warning(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, _ = _fill(ledger)
    ledger.close()
    with open(ledger.path, "r+b") as handle:  # a write torn at the end of the records
        handle.seek(ledger.store.records_end())
        handle.write(b'{"action":"model.enabled","actor":"mallory"')
    assert [r.seq for r in Ledger(ledger.directory).records()] == [1, 2, 3]
    fresh = Ledger(ledger.directory)
    with caplog.at_level("WARNING"):
        fourth = fresh.append(action="model.enabled", actor="gina@example.com", role="guardian")
    assert "ledger_partial_record_discarded" in caplog.text
    assert fourth.seq == 4
    assert [r.seq for r in fresh.records()] == [1, 2, 3, 4]
    kept = orjson.loads(fresh.store.discarded_path.read_bytes().splitlines()[0])
    assert "mallory" in kept["bytes"]
    assert first.hash != second.hash


def test_unreadable_last_record_blocks_appends(ledger: Ledger) -> None:
    _fill(ledger)
    ledger.close()
    with open(ledger.path, "r+b") as handle:
        handle.seek(ledger.store.records_end())
        handle.write(b"garbage that ends like a line\n")
    with pytest.raises(LedgerIntegrityError, match=r"last record .* is unreadable"):
        Ledger(ledger.directory).append(action="model.enabled", actor="g", role="guardian")


def test_export_writes_the_stored_lines_verbatim(ledger: Ledger, tmp_path: Path) -> None:
    _fill(ledger)
    out = tmp_path / "export.jsonl"
    with open(out, "wb") as handle:
        assert ledger.export(handle) == 3
    stored = ledger.path.read_bytes()
    assert out.read_bytes() == stored[: ledger.store.records_end()]
    assert stored[ledger.store.records_end() :].strip(b"\0") == b""  # space allocated ahead


def test_from_settings_uses_steward_home(settings) -> None:
    ledger = Ledger.from_settings(settings)
    assert ledger.directory == settings.ledger_dir
    assert ledger.key_path == settings.audit_key_path
    assert ledger.segment_max_records == settings.audit_segment_max_records


def test_public_api_is_pinned() -> None:
    import modelsteward.audit as audit

    assert sorted(audit.__all__) == [
        "AuditAction",
        "Checkpoint",
        "GENESIS_HASH",
        "Ledger",
        "Record",
        "Role",
        "SealReport",
        "VerifyReport",
        "canonical_json",
    ]
    assert {a.value for a in AuditAction} >= {
        "model.registered",
        "approval.granted",
        "approval.rejected",
        "model.promoted",
        "quality.checked",
        "drift.evaluated",
        "alert.sent",
        "model.disabled",
        "model.enabled",
        "access.refused",
        "report.generated",
        "ledger.sealed",
    }
    assert [r.value for r in Role] == ["owner", "guardian", "operator", "system", "pagerduty"]


def test_verify_report_speaks_both_dialects(ledger: Ledger) -> None:
    _fill(ledger)
    report = ledger.verify()
    assert report.raise_for_status() is report
    assert report.summary() == {
        "ok": True,
        "records": 3,
        "last_seq": 3,
        "last_hash": report.last_hash,
        "checkpoints_verified": 0,
        "segments_verified": 0,
    }


def test_a_deleted_ledger_file_is_not_appended_to_in_the_dark(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(ledger)
    ledger.path.rename(ledger.path.with_suffix(".moved"))
    with caplog.at_level("WARNING"):
        record = ledger.append(action="model.enabled", actor="gina@example.com", role="guardian")
    assert "ledger_file_replaced" in caplog.text
    assert record.seq == 1  # a new chain, which verify flags against any sealed checkpoint
    assert [r.seq for r in ledger.records()] == [1]


def test_records_are_written_into_space_allocated_ahead(ledger: Ledger) -> None:
    records = _fill(ledger)
    size = ledger.path.stat().st_size
    end = ledger.store.records_end()
    if hasattr(os, "posix_fallocate"):
        assert size >= end + 1024 * 1024  # later appends do not grow the file
    stored = ledger.path.read_bytes()
    assert stored[end:].strip(b"\0") == b""
    assert [r.seq for r in ledger.records()] == [r.seq for r in records]
    assert ledger.verify().ok


def test_after_a_reboot_unacknowledged_bytes_past_a_hole_are_discarded(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(ledger)
    ledger.close()
    end = ledger.store.records_end()
    # A power loss persisted a later page of a record but not the page before it ...
    with open(ledger.path, "r+b") as handle:
        handle.seek(end + 4096)
        handle.write(b'{"action":"model.enabled","actor":"never-acknowledged"}\n')
    # ... and the machine rebooted: the tail note names another boot.
    with open(ledger.store.sync_path, "r+b") as handle:
        handle.seek(128 + 8)
        handle.write(b"0" * 36)
    fresh = Ledger(ledger.directory)
    with caplog.at_level("WARNING"):
        fourth = fresh.append(action="model.enabled", actor="gina@example.com", role="guardian")
    assert "ledger_partial_record_discarded" in caplog.text
    assert fourth.seq == 4
    assert b"never-acknowledged" in fresh.store.discarded_path.read_bytes()
    report = fresh.verify()
    assert report.ok and report.records == 4 and not report.warnings, report.to_dict()


def test_an_append_after_the_file_was_rewritten_by_hand_is_synced_again(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(ledger)
    lines = ledger.path.read_bytes().rstrip(b"\0").splitlines(keepends=True)
    ledger.path.write_bytes(lines[0])  # the durable offset published earlier is now stale
    real = os.fdatasync
    synced: list[int] = []

    def counting(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    record = ledger.append(action="model.enabled", actor="gina@example.com", role="guardian")
    assert record.seq == 2
    assert synced, "the new record must be flushed, not covered by the stale durable offset"


def test_a_disk_full_append_records_nothing_and_the_chain_goes_on(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    third = _fill(ledger)[-1]
    real = os.pwrite

    def full(fd: int, data: bytes, offset: int) -> int:
        if fd == ledger.store._fd and data.strip(b"\0"):
            real(fd, data[: len(data) // 3], offset)  # a short write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(StorageError, match="nothing was recorded"):
        ledger.append(action="model.enabled", actor="gina@example.com", role="guardian")
    monkeypatch.setattr(os, "pwrite", real)
    fourth = ledger.append(action="model.enabled", actor="gina@example.com", role="guardian")
    assert (fourth.seq, fourth.prev_hash) == (4, third.hash)
    report = ledger.verify()
    assert report.ok and report.records == 4 and not report.warnings, report.to_dict()


def test_a_power_loss_that_took_the_notes_too_still_discards_the_unacknowledged_tail(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(ledger)
    ledger.close()
    end = ledger.store.records_end()
    lines = ledger.path.read_bytes()[:end].splitlines(keepends=True)
    # records 2 and 3 were never acknowledged: the page holding record 2 was lost, a later
    # page with record 3 was persisted, and ledger.sync (never flushed) came back empty
    hole_start = len(lines[0])
    with open(ledger.path, "r+b") as handle:
        handle.seek(hole_start)
        handle.write(bytes(len(lines[1])))
    ledger.store.sync_path.write_bytes(b"")
    fresh = Ledger(ledger.directory)
    before = fresh.verify()  # flagged, with the likely cause, until the next append repairs it
    assert (before.first_bad_seq, before.reason) == (2, "changed")
    assert "power loss left a hole" in str(before.error)
    with caplog.at_level("WARNING"):
        second = fresh.append(action="model.enabled", actor="gina@example.com", role="guardian")
    assert "ledger_partial_record_discarded" in caplog.text
    assert second.seq == 2  # chained onto the last record before the hole
    report = fresh.verify()
    assert report.ok and report.records == 2 and not report.warnings, report.to_dict()


def test_after_a_failed_fdatasync_this_process_appends_no_more(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    _fill(ledger)

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(StorageError, match="fdatasync of the audit ledger"):
        ledger.append(action="model.enabled", actor="gina@example.com", role="guardian")
    monkeypatch.undo()  # a later fdatasync would succeed without the lost pages
    with pytest.raises(StorageError, match="appends no more"):
        ledger.append(action="model.enabled", actor="gina@example.com", role="guardian")
    other = Ledger(ledger.directory)  # a restarted process goes on, and verify can tell
    assert other.append(action="model.enabled", actor="g", role="guardian").seq == 5
