"""The canonical encoding is pinned by a golden file: same bytes, same hashes, forever."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import orjson
import pytest

from modelsteward.audit import GENESIS_HASH, Ledger, canonical_json
from modelsteward.audit.records import Draft, body_of_line

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "audit_golden.jsonl"
INPUTS = json.loads((DATA / "audit_golden_inputs.json").read_text(encoding="utf-8"))


def test_records_encode_to_the_golden_bytes() -> None:
    prev = GENESIS_HASH
    lines = []
    for case in INPUTS:
        fields = {k: v for k, v in case.items() if k not in ("seq", "ts")}
        line, prev = Draft.build(**fields).seal(seq=case["seq"], ts=case["ts"], prev_hash=prev)
        lines.append(line)
    assert b"".join(lines) == GOLDEN.read_bytes()


@pytest.mark.parametrize("index", range(len(INPUTS)))
def test_hash_is_sha256_of_the_canonical_body(index: int) -> None:
    line = GOLDEN.read_bytes().splitlines()[index]
    record = orjson.loads(line)
    digest = record.pop("hash")
    assert body_of_line(line) == canonical_json(record)
    assert hashlib.sha256(canonical_json(record)).hexdigest() == digest


@pytest.mark.parametrize("index", [0, 1, 3, 4])
def test_without_floats_the_stdlib_encoder_agrees(index: int) -> None:
    """The spec is plain JSON: sorted keys, no whitespace, UTF-8, minimal escapes."""
    line = GOLDEN.read_bytes().splitlines()[index]
    record = orjson.loads(line)
    record.pop("hash")
    stdlib = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stdlib.encode() == body_of_line(line)


def test_floats_use_the_shortest_round_trip_form() -> None:
    assert canonical_json([0.1, 1.0, 1e-7, 1e16, 100000.0]) == b"[0.1,1.0,1e-7,1e+16,100000.0]"


def test_the_golden_ledger_verifies(tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    directory.mkdir()
    shutil.copy(GOLDEN, directory / "ledger.jsonl")
    report = Ledger(directory).verify()
    assert report.ok and report.records == len(INPUTS), report.to_dict()
    assert report.last_hash == orjson.loads(GOLDEN.read_bytes().splitlines()[-1])["hash"]
