"""Both kill-switch backends against the real thing: a SQLite file and a Redis server."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelsteward.errors import ConfigError, ExternalServiceError
from modelsteward.killswitch import KillSwitchStore, SwitchState, open_store


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ks' / 'killswitch.db'}"
    redis_url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    return f"{redis_url}?prefix={prefix}"


@pytest.fixture
def store(store_url: str) -> Iterator[KillSwitchStore]:
    with open_store(store_url) as opened:
        yield opened


def test_new_store_is_empty(store: KillSwitchStore) -> None:
    assert store.revision() == 0
    assert store.all_states() == {}
    assert store.get_state("fraud-detector") is None


def test_set_state_round_trips_every_field(store: KillSwitchStore) -> None:
    before = datetime.now(UTC)
    written = store.set_state(
        "fraud-detector",
        active=False,
        actor="ops@example.com",
        role="operator",
        reason="drift: 70% of columns",
        version="3",
    )
    read = store.get_state("fraud-detector")
    assert read == written
    assert isinstance(read, SwitchState)
    assert read.active is False
    assert read.version == "3"
    assert read.revision == 1
    assert read.changed_at.tzinfo is not None
    assert before <= read.changed_at <= datetime.now(UTC)
    assert store.all_states() == {"fraud-detector": written}


def test_revision_is_global_and_strictly_increasing(store: KillSwitchStore) -> None:
    revisions = [
        store.set_state(
            model, active=active, actor="a@example.com", role="guardian", reason="r"
        ).revision
        for model, active in [("a", True), ("b", True), ("a", False), ("b", False)]
    ]
    assert revisions == [1, 2, 3, 4]
    assert store.revision() == 4
    states = store.all_states()
    assert {m: (s.active, s.revision) for m, s in states.items()} == {
        "a": (False, 3),
        "b": (False, 4),
    }


def test_version_none_stays_none(store: KillSwitchStore) -> None:
    store.set_state("m1", active=True, actor="x", role="system", reason="")
    state = store.get_state("m1")
    assert state is not None
    assert state.version is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "Fraud Detector"}, "model name: got 'Fraud Detector'"),
        ({"role": "admin"}, "role: got 'admin'; expected one of"),
        ({"actor": " "}, "actor: got an empty actor"),
        ({"reason": "x" * 2001}, "reason: got 2001 characters"),
    ],
)
def test_set_state_rejects_bad_input(
    store: KillSwitchStore, kwargs: dict[str, str], match: str
) -> None:
    args = {"model": "m", "actor": "a@example.com", "role": "guardian", "reason": "r"} | kwargs
    model = args.pop("model")
    with pytest.raises(ConfigError, match=match):
        store.set_state(model, active=False, **args)
    assert store.revision() == 0


def test_claim_once_is_atomic_and_releasable(store: KillSwitchStore) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(store.claim_once("webhook:abc"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    store.release("webhook:abc")
    assert store.claim_once("webhook:abc") is True


def test_claims_survive_reopening(store_url: str) -> None:
    with open_store(store_url) as first:
        assert first.claim_once("webhook:persisted") is True
    with open_store(store_url) as second:
        assert second.claim_once("webhook:persisted") is False


def test_expired_claim_can_be_claimed_again(store: KillSwitchStore) -> None:
    assert store.claim_once("short", ttl_seconds=0.001) is True
    # an expired claim is gone for the store's own clock; wait on the store, not a sleep
    store.wait_for_change(store.revision(), 0.01)
    assert store.claim_once("short") is True


def test_wait_for_change_returns_at_once_when_behind(store: KillSwitchStore) -> None:
    store.set_state("m", active=True, actor="x", role="system", reason="")
    assert store.wait_for_change(0, timeout_seconds=30) == 1


def test_wait_for_change_times_out_with_current_revision(store: KillSwitchStore) -> None:
    assert store.wait_for_change(0, timeout_seconds=0.02) == 0


def test_wait_for_change_wakes_on_change_from_another_process(store_url: str) -> None:
    """A writer in another process; the watcher wakes long before its 30 s timeout."""
    code = (
        "import sys\n"
        "from modelsteward.killswitch import open_store\n"
        "s = open_store(sys.argv[1])\n"
        "sys.stdin.readline()\n"
        "s.set_state('fraud-detector', active=False, actor='pd', role='pagerduty', reason='x')\n"
        "s.close()\n"
    )
    with open_store(store_url) as watcher:
        watcher.wait_for_change(0, 0.0)  # subscribe/prime before the writer acts
        writer = subprocess.Popen(
            [sys.executable, "-c", code, store_url], stdin=subprocess.PIPE, text=True
        )
        try:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
            revision = watcher.wait_for_change(0, timeout_seconds=30)
        finally:
            writer.wait(timeout=30)
        assert revision == 1
        assert writer.returncode == 0
        state = watcher.get_state("fraud-detector")
        assert state is not None
        assert state.active is False
        assert state.role == "pagerduty"


def test_open_store_rejects_unknown_scheme() -> None:
    with pytest.raises(ConfigError, match="expected sqlite:///PATH or redis://"):
        open_store("postgres://localhost/x")


def test_unreachable_redis_raises_external_service_error() -> None:
    store = open_store("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(ExternalServiceError, match="is Redis reachable"):
            store.revision()
    finally:
        store.close()


def test_redis_password_is_not_in_repr(redis_prefix: str) -> None:
    store = open_store(f"redis://user:hunter2@127.0.0.1:1/0?prefix={redis_prefix}")
    try:
        assert "hunter2" not in repr(store)
        assert store.prefix == redis_prefix  # type: ignore[attr-defined]
    finally:
        store.close()


def test_closed_sqlite_store_refuses(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    store.close()
    with pytest.raises(ExternalServiceError, match="is closed"):
        store.revision()


def test_sqlite_state_survives_reopen_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with open_store(url) as store:
        store.set_state("m", active=False, actor="x", role="guardian", reason="why")
    with open_store(url) as store:
        state = store.get_state("m")
        assert state is not None
        assert (state.active, state.reason, store.revision()) == (False, "why", 1)
        import sqlite3

        mode = sqlite3.connect(tmp_path / "k.db").execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_wait_for_changes_lists_exactly_what_changed(store: KillSwitchStore) -> None:
    store.set_state("a", active=True, actor="x", role="guardian", reason="")
    known = store.revision()
    assert store.wait_for_changes(known, 0.0) == (known, {})
    killed = store.set_state("a", active=False, actor="y", role="operator", reason="stop")
    revision, changed = store.wait_for_changes(known, 30)
    assert revision == killed.revision
    # SQLite lists the rows; Redis may answer None (reload) when it saw no push yet
    if changed is not None:
        assert changed == {"a": killed}


def test_redis_push_carries_the_change(redis_url: str, redis_prefix: str) -> None:
    """A watcher already waiting receives the new state in the push itself."""
    with (
        open_store(f"{redis_url}?prefix={redis_prefix}") as watcher,
        open_store(f"{redis_url}?prefix={redis_prefix}") as writer,
    ):
        assert watcher.wait_for_changes(0, 0.0) == (0, {})  # subscribed
        result: list[object] = []
        ready = threading.Event()

        def wait() -> None:
            ready.set()
            result.append(watcher.wait_for_changes(0, 30))

        thread = threading.Thread(target=wait)
        thread.start()
        ready.wait(30)
        state = writer.set_state(
            "fraud-detector", active=False, actor="pd", role="pagerduty", reason="r", version="7"
        )
        thread.join(30)
        revision, changed = result[0]  # type: ignore[misc]
        assert revision == state.revision == 1
        assert changed in ({"fraud-detector": state}, None)


def test_redis_push_payload_parses_to_the_state() -> None:
    from modelsteward.killswitch._redis import _parse_push

    payload = (
        b'12|{"model":"m","active":false,"version":null,"actor":"a","role":"operator",'
        b'"reason":"r","changed_at":"2026-11-25T21:00:00+00:00"}'
    )
    revision, state = _parse_push(payload)
    assert revision == 12
    assert state == SwitchState(
        model="m",
        active=False,
        version=None,
        actor="a",
        role="operator",
        reason="r",
        changed_at=datetime(2026, 11, 25, 21, tzinfo=UTC),
        revision=12,
    )
    assert _parse_push(b"13") == (13, None)
    with pytest.raises(ValueError, match="invalid literal"):
        _parse_push(b"not-a-revision|{}")
