"""Property tests: any single tampering of a ledger of random events is found at the right seq."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsteward.audit import GENESIS_HASH, AuditAction, Ledger, Role
from modelsteward.audit.records import Draft, body_of_line
from modelsteward.audit.verify import VerifyReport

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_name = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=12
).filter(lambda s: s.strip() != "")
_draft = st.builds(
    Draft.build,
    action=st.sampled_from(list(AuditAction)),
    actor=_name,
    role=st.sampled_from(list(Role)),
    model=st.none() | _name,
    version=st.none() | st.sampled_from(["1", "2", "17"]),
    details=st.dictionaries(st.text(max_size=8), _json, max_size=4),
)
_ledgers = st.lists(_draft, min_size=2, max_size=12)


def _lines(drafts: list[Draft]) -> list[bytes]:
    """Stored lines (with newline) of a chain of ``drafts``, built without touching a disk."""
    lines: list[bytes] = []
    prev = GENESIS_HASH
    for seq, draft in enumerate(drafts, start=1):
        line, prev = draft.seal(
            seq=seq, ts=f"2026-01-01T00:00:{seq % 60:02d}.000000Z", prev_hash=prev
        )
        lines.append(line)
    return lines


def _verify(blob: bytes) -> VerifyReport:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ledger"
        directory.mkdir()
        (directory / "ledger.jsonl").write_bytes(blob)
        ledger = Ledger(directory, key_path=Path(tmp) / "key.pem")
        fast, strict = ledger.verify(), ledger.verify(strict=True)
        assert (fast.first_bad_seq, fast.reason) == (strict.first_bad_seq, strict.reason)
        return fast


_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(_ledgers)
def test_an_untouched_ledger_verifies(drafts: list[Draft]) -> None:
    report = _verify(b"".join(_lines(drafts)))
    assert report.ok, report.to_dict()
    assert report.records == len(drafts)


@_settings
@given(_ledgers, st.data())
def test_any_changed_byte_is_found_at_its_record(drafts: list[Draft], data: st.DataObject) -> None:
    lines = _lines(drafts)
    blob = bytearray(b"".join(lines))
    index = data.draw(st.integers(0, len(blob) - 1), label="byte")
    blob[index] = data.draw(st.integers(0, 255).filter(lambda b: b != blob[index]), label="value")
    owner = next(k for k in range(len(lines)) if index < sum(map(len, lines[: k + 1])))
    report = _verify(bytes(blob))
    assert (report.first_bad_seq, report.reason) == (owner + 1, "changed"), report.to_dict()


@_settings
@given(_ledgers, st.data())
def test_a_deleted_record_is_missing(drafts: list[Draft], data: st.DataObject) -> None:
    lines = _lines(drafts)
    k = data.draw(st.integers(0, len(lines) - 2), label="deleted index")  # the last: see seal tests
    report = _verify(b"".join(lines[:k] + lines[k + 1 :]))
    assert (report.first_bad_seq, report.reason) == (k + 1, "missing"), report.to_dict()


@_settings
@given(_ledgers, st.data())
def test_a_duplicated_record_is_an_insertion(drafts: list[Draft], data: st.DataObject) -> None:
    lines = _lines(drafts)
    k = data.draw(st.integers(0, len(lines) - 1), label="duplicated index")
    report = _verify(b"".join([*lines[: k + 1], lines[k], *lines[k + 1 :]]))
    assert (report.first_bad_seq, report.reason) == (k + 2, "inserted"), report.to_dict()


@_settings
@given(_ledgers, st.data(), _draft)
def test_an_inserted_record_is_found(
    drafts: list[Draft], data: st.DataObject, forged: Draft
) -> None:
    lines = _lines(drafts)
    k = data.draw(st.integers(0, len(lines) - 1), label="insert before index")
    if data.draw(st.booleans(), label="well forged"):
        prev = GENESIS_HASH if k == 0 else lines[k - 1][-67:-3].decode()
        seq = k + 1  # the best forgery: right seq, right link, valid hash
    else:
        prev = data.draw(st.text("0123456789abcdef", min_size=64, max_size=64), label="prev")
        seq = data.draw(st.integers(1, 50), label="seq")
    line, _ = forged.seal(seq=seq, ts="2026-01-01T00:00:00.000000Z", prev_hash=prev)
    if line in lines:
        return
    report = _verify(b"".join([*lines[:k], line, *lines[k:]]))
    assert (report.first_bad_seq, report.reason) == (k + 1, "inserted"), report.to_dict()


@_settings
@given(_ledgers, st.data())
def test_a_moved_record_is_reordered(drafts: list[Draft], data: st.DataObject) -> None:
    lines = _lines(drafts)
    i = data.draw(st.integers(0, len(lines) - 1), label="from")
    j = data.draw(st.integers(0, len(lines) - 1).filter(lambda x: x != i), label="to")
    moved = list(lines)
    moved.insert(j, moved.pop(i))
    report = _verify(b"".join(moved))
    assert (report.first_bad_seq, report.reason) == (min(i, j) + 1, "reordered"), report.to_dict()


def test_a_rehashed_replacement_is_found_at_the_replaced_record() -> None:
    drafts = [Draft.build(action="model.enabled", actor=f"a{i}", role="guardian") for i in range(5)]
    lines = _lines(drafts)
    forged = Draft.build(action="model.enabled", actor="mallory", role="guardian")
    line, _ = forged.seal(
        seq=3, ts="2026-01-01T00:00:03.000000Z", prev_hash=lines[1][-67:-3].decode()
    )
    report = _verify(b"".join([*lines[:2], line, *lines[3:]]))
    assert (report.first_bad_seq, report.reason) == (3, "changed")
    assert report.error is not None and report.error.seq == 3


def test_a_torn_last_line_is_a_warning_not_a_failure() -> None:
    drafts = [Draft.build(action="model.enabled", actor=f"a{i}", role="guardian") for i in range(3)]
    lines = _lines(drafts)
    report = _verify(b"".join(lines) + lines[0][:40])
    assert report.ok and report.records == 3
    assert "partial record" in report.warnings[0]


def test_strict_mode_also_refuses_a_non_canonical_but_rehashed_record() -> None:
    drafts = [Draft.build(action="model.enabled", actor=f"a{i}", role="guardian") for i in range(3)]
    lines = _lines(drafts)
    body = body_of_line(lines[2][:-1]).replace(b'"actor":"a2"', b'"actor": "a2"')
    digest = hashlib.sha256(body).hexdigest()
    last = body[:-1] + b',"hash":"' + digest.encode() + b'"}\n'
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ledger"
        directory.mkdir()
        (directory / "ledger.jsonl").write_bytes(lines[0] + lines[1] + last)
        ledger = Ledger(directory)
        assert ledger.verify().ok  # the bytes hash and link: tamper-evidence holds
        strict = ledger.verify(strict=True)
        assert (strict.first_bad_seq, strict.reason) == (3, "changed")


def test_large_ledgers_are_checked_in_parallel_with_the_same_verdict(tmp_path: Path) -> None:
    from modelsteward.audit import verify as verify_module

    drafts = [Draft.build(action="alert.sent", actor=f"a{i}", role="system") for i in range(300)]
    lines = _lines(drafts)
    directory = tmp_path / "ledger"
    directory.mkdir()
    path = directory / "ledger.jsonl"
    path.write_bytes(b"".join(lines))
    original = verify_module.PARALLEL_MIN_BYTES
    verify_module.PARALLEL_MIN_BYTES = 1
    try:
        whole = verify_module.verify_file(path, workers=3, wanted={150})
        assert whole.problem is None and whole.records == 300 and 150 in whole.at
        path.write_bytes(b"".join(lines[:200] + lines[201:]))
        broken = verify_module.verify_file(path, workers=3)
        assert broken.problem is not None
        assert (broken.problem.seq, broken.problem.reason) == (201, "missing")
    finally:
        verify_module.PARALLEL_MIN_BYTES = original


_filters = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["a", "b", "é"]),
        "action": st.sampled_from([AuditAction.ALERT_SENT, "model.disabled"]),
        "actor": st.sampled_from(["x", "y"]),
        "since": st.integers(0, 9),
        "until": st.integers(0, 9),
    },
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "é", None]),
            st.sampled_from([AuditAction.ALERT_SENT, AuditAction.MODEL_DISABLED]),
            st.sampled_from(["x", "y"]),
            st.sampled_from(["a", "b"]),  # a detail named "model" must not fool the filter
        ),
        max_size=10,
    ),
    _filters,
)
def test_records_filters_agree_with_a_plain_filter(events: list, query: dict) -> None:
    drafts = [
        Draft.build(action=a, actor=actor, role="system", model=m, details={"model": d})
        for m, a, actor, d in events
    ]
    stamps = [f"2026-01-01T00:00:{i:02d}.000000Z" for i in range(len(drafts))]
    lines, prev = [], GENESIS_HASH
    for seq, (draft, ts) in enumerate(zip(drafts, stamps, strict=True), start=1):
        line, prev = draft.seal(seq=seq, ts=ts, prev_hash=prev)
        lines.append(line)
    kwargs = dict(query)
    for bound in ("since", "until"):
        if bound in kwargs:
            kwargs[bound] = f"2026-01-01T00:00:{kwargs[bound]:02d}Z"
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ledger"
        directory.mkdir()
        (directory / "ledger.jsonl").write_bytes(b"".join(lines))
        got = [r.seq for r in Ledger(directory).records(**kwargs)]
    expected = [
        seq
        for seq, (draft, ts) in enumerate(zip(drafts, stamps, strict=True), start=1)
        if ("model" not in query or draft.model == query["model"])
        and ("action" not in query or draft.action == str(query["action"]))
        and ("actor" not in query or draft.actor == query["actor"])
        and ("since" not in query or ts >= stamps[0][:17] + f"{query['since']:02d}.000000Z")
        and ("until" not in query or ts < stamps[0][:17] + f"{query['until']:02d}.000000Z")
    ]
    assert got == expected
