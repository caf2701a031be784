"""The guard against real stores, with an injected clock: no test sleeps."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsteward import Guard, ModelDisabledError
from modelsteward.errors import ConfigError
from modelsteward.guard import GuardRule
from modelsteward.killswitch import KillSwitchStore, open_store
from modelsteward.policy import GuardPolicy

MODEL = "fraud-detector"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KillSwitchStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'killswitch.db'}"
    else:
        prefix = request.getfixturevalue("redis_prefix")
        url = f"{request.getfixturevalue('redis_url')}?prefix={prefix}"
    with open_store(url) as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _enable(store: KillSwitchStore, model: str = MODEL) -> int:
    return store.set_state(
        model, active=True, actor="ciso@example.com", role="guardian", reason="approved"
    ).revision


def _kill(store: KillSwitchStore, model: str = MODEL, reason: str = "drift") -> int:
    return store.set_state(
        model, active=False, actor="ops@example.com", role="operator", reason=reason
    ).revision


def test_active_model_passes_and_killed_model_is_refused(
    store: KillSwitchStore, clock: FakeClock
) -> None:
    _enable(store)
    with Guard(store, clock=clock, start=False) as guard:
        assert guard.refresh() == 1
        guard.check(MODEL)
        assert guard.is_active(MODEL) is True
        revision = _kill(store, reason="PagerDuty incident 1234")
        guard.check(MODEL)  # not refreshed yet: still the old table
        assert guard.refresh() == revision
        with pytest.raises(ModelDisabledError, match=r"disabled by ops@example.com.*incident 1234"):
            guard.check(MODEL)
        assert guard.is_active(MODEL) is False
        assert guard.applied_revision == revision


def test_refusal_carries_model_and_revision(store: KillSwitchStore, clock: FakeClock) -> None:
    _enable(store)
    revision = _kill(store)
    with Guard(store, clock=clock, start=False) as guard:
        guard.refresh()
        with pytest.raises(ModelDisabledError, match="fraud-detector") as caught:
            guard.check(MODEL)
    assert caught.value.model == MODEL
    assert caught.value.revision == revision


def test_model_without_state_is_blocked_unless_policy_allows(
    store: KillSwitchStore, clock: FakeClock
) -> None:
    rules = {"lenient": GuardRule(on_unknown="allow")}
    with Guard(store, rules=rules, clock=clock, start=False) as guard:
        guard.refresh()
        with pytest.raises(ModelDisabledError, match="never approved to serve"):
            guard.check("never-onboarded")
        guard.check("lenient")


def test_stale_state_fails_closed_by_default(store: KillSwitchStore, clock: FakeClock) -> None:
    _enable(store)
    with Guard(store, clock=clock, start=False) as guard:
        guard.refresh()
        clock.advance(4.9)
        guard.check(MODEL)
        clock.advance(0.2)  # 5.1 s since the last verified refresh, bound 5 s
        with pytest.raises(ModelDisabledError, match=r"stale .*bound 5s\) and on_unknown=block"):
            guard.check(MODEL)
        guard.refresh()
        guard.check(MODEL)


def test_stale_state_with_allow_serves_but_keeps_a_known_kill(
    store: KillSwitchStore, clock: FakeClock
) -> None:
    _enable(store, "open-model")
    _enable(store, "killed-model")
    _kill(store, "killed-model")
    rule = GuardPolicy(on_unknown="allow", max_staleness_seconds=1)
    rules = {"open-model": rule, "killed-model": rule, "unknown-model": rule}
    with Guard(store, rules=rules, clock=clock, start=False) as guard:
        guard.refresh()
        clock.advance(60)
        guard.check("open-model")
        guard.check("unknown-model")
        with pytest.raises(ModelDisabledError, match="killed-model"):
            guard.check("killed-model")


def test_per_model_staleness_bound(store: KillSwitchStore, clock: FakeClock) -> None:
    _enable(store, "tight")
    _enable(store, "loose")
    rules = {
        "tight": GuardRule(max_staleness_seconds=0.5),
        "loose": GuardRule(max_staleness_seconds=30),
    }
    with Guard(store, rules=rules, clock=clock, start=False) as guard:
        guard.refresh()
        clock.advance(1)
        guard.check("loose")
        with pytest.raises(ModelDisabledError, match="stale"):
            guard.check("tight")


def test_never_loaded_guard_refuses(store: KillSwitchStore, clock: FakeClock) -> None:
    _enable(store)
    guard = Guard(store, clock=clock, start=False)
    with guard, pytest.raises(ModelDisabledError, match="never loaded"):
        guard.check(MODEL)


def test_store_outage_keeps_last_good_state_until_the_bound(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = open_store("redis://127.0.0.1:1/0")  # nothing listens on port 1
    sqlite = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    _enable(sqlite)
    guard = Guard(sqlite, clock=clock, start=False)
    guard.refresh()
    guard._store = store  # the same guard, now on a store that is down
    try:
        with pytest.raises(Exception, match="is Redis reachable"):
            guard.refresh()
        guard.check(MODEL)  # last good state, still within the bound
        clock.advance(6)
        with pytest.raises(ModelDisabledError, match="stale"):
            guard.check(MODEL)
    finally:
        guard.close()
        store.close()
        sqlite.close()


def test_protect_decorates_sync_and_async(store: KillSwitchStore, clock: FakeClock) -> None:
    _enable(store)
    with Guard(store, clock=clock, start=False) as guard:
        guard.refresh()

        @guard.protect(MODEL)
        def predict(x: int) -> int:
            """Doubles."""
            return 2 * x

        @guard.protect(MODEL)
        async def predict_async(x: int) -> int:
            return 3 * x

        assert predict(2) == 4
        assert predict.__doc__ == "Doubles."
        assert asyncio.run(predict_async(2)) == 6
        _kill(store)
        guard.refresh()
        with pytest.raises(ModelDisabledError, match="disabled"):
            predict(2)
        with pytest.raises(ModelDisabledError, match="disabled"):
            asyncio.run(predict_async(2))


def test_background_thread_applies_a_kill(store: KillSwitchStore) -> None:
    _enable(store)
    with Guard(store, refresh_seconds=0.05) as guard:
        assert guard.wait_for_revision(1, timeout_seconds=30)
        guard.check(MODEL)
        revision = _kill(store)
        assert guard.wait_for_revision(revision, timeout_seconds=30)
        assert guard.is_active(MODEL) is False
        state = guard.state(MODEL)
        assert state is not None
        assert state.active is False


def test_guard_in_another_process_sees_a_kill(store: KillSwitchStore, tmp_path: Path) -> None:
    """A serving process with its own guard; the kill is written here."""
    _enable(store)
    url = store.url if not hasattr(store, "prefix") else f"{store.url}?prefix={store.prefix}"
    code = (
        "import sys\n"
        "from modelsteward import Guard\n"
        "from modelsteward.killswitch import open_store\n"
        "g = Guard(open_store(sys.argv[1]), owns_store=True)\n"
        "assert g.wait_for_revision(1, 30)\n"
        "print('ready', flush=True)\n"
        "assert g.wait_for_revision(2, 30)\n"
        "print('active' if g.is_active('fraud-detector') else 'refused', g.applied_revision)\n"
        "g.close()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        _kill(store)
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert out.strip() == "refused 2"


def test_from_env_uses_settings_and_policies(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{steward_home / 'killswitch.db'}"
    with open_store(url) as store:
        _enable(store)
    with Guard.from_env(start=False) as guard:
        assert guard.applied_revision == 1  # first refresh done before returning
        guard.check(MODEL)
        # fraud-detector's policy says block with a 5 s bound
        assert guard.rule(MODEL) == GuardRule(on_unknown="block", max_staleness_seconds=5)
    monkeypatch.setenv("STEWARD_KILLSWITCH_URL", f"sqlite:///{steward_home / 'other.db'}")
    with Guard.from_env(rules={"x": GuardRule(on_unknown="allow")}, start=False) as guard:
        assert guard.applied_revision == 0
        guard.check("x")
        with pytest.raises(ModelDisabledError, match="never approved"):
            guard.check(MODEL)


def test_from_env_comes_up_when_the_store_is_down(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_KILLSWITCH_URL", "redis://127.0.0.1:1/0")
    guard = Guard.from_env(start=False)
    with guard, pytest.raises(ModelDisabledError, match="never loaded"):
        guard.check(MODEL)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"on_unknown": "maybe"}, "on_unknown: got 'maybe'"),
        ({"max_staleness_seconds": 0}, "max_staleness_seconds: got 0"),
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        GuardRule(**kwargs)  # type: ignore[arg-type]


def test_close_stops_the_thread_and_owned_store(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    guard = Guard(store, owns_store=True)
    thread = guard._thread
    guard.close()
    assert thread is not None
    assert not thread.is_alive()
    with pytest.raises(Exception, match="is closed"):
        store.revision()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_restarts_its_refresh_thread(tmp_path: Path) -> None:
    """A serving app forked after creating its guard (gunicorn --preload) keeps refreshing."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with open_store(url) as store:
        _enable(store)
        guard = Guard(open_store(url), owns_store=True)
        assert guard.wait_for_revision(1, 30)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: wait for the parent's kill, through the restarted thread
            os.close(write_end)
            os.read(read_end, 1)
            ok = guard.wait_for_revision(2, 30) and not guard.is_active(MODEL)
            os._exit(0 if ok else 1)
        os.close(read_end)
        try:
            _kill(store)
            os.write(write_end, b"x")
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(write_end)
            guard.close()
        assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.slow
def test_guard_recovers_when_redis_drops_its_connections(redis_url: str, redis_prefix: str) -> None:
    """Redis restarts or a proxy drops the pub/sub connection: the guard reconnects."""
    import redis

    name = f"steward-test-{redis_prefix.split(':')[1]}"
    url = f"{redis_url}?prefix={redis_prefix}"
    admin = redis.Redis.from_url(redis_url)
    with open_store(url) as writer:
        _enable(writer)
        with Guard(open_store(f"{url}&client_name={name}"), owns_store=True) as guard:
            assert guard.wait_for_revision(1, 30)
            killed = 0
            for client in admin.client_list():
                if client.get("name") == name:
                    admin.client_kill_filter(_id=client["id"])
                    killed += 1
            assert killed >= 1  # at least the pub/sub connection
            revision = _kill(writer)
            assert guard.wait_for_revision(revision, 30)
            assert guard.is_active(MODEL) is False
    admin.close()


def _wait_until(predicate, timeout_seconds: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_store_file_replaced_under_the_guard_is_reloaded(tmp_path: Path) -> None:
    """A restore (new file at the same path) must not leave the guard on the old file."""
    path = tmp_path / "ks.db"
    with open_store(f"sqlite:///{path}") as first:
        _enable(first)
    guard = Guard.from_env(url=f"sqlite:///{path}", load_policies=False)
    try:
        assert guard.is_active(MODEL)
        backup = tmp_path / "restored.db"
        with open_store(f"sqlite:///{backup}") as restored:  # revision starts again at 1
            restored.set_state(
                MODEL,
                active=False,
                actor="ops@example.com",
                role="operator",
                reason="killed in the restored copy",
            )
        for suffix in ("-wal", "-shm", ""):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(backup, path)
        assert _wait_until(lambda: not guard.is_active(MODEL)), "guard kept serving"
        assert guard.applied_revision == 1
    finally:
        guard.close()


def test_a_store_whose_revision_went_back_is_reloaded(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "ks.db"
    with open_store(f"sqlite:///{path}") as store:
        _enable(store)
        _kill(store)
        _enable(store)
    guard = Guard.from_env(url=f"sqlite:///{path}", load_policies=False)
    try:
        assert guard.is_active(MODEL) and guard.applied_revision == 3
        with sqlite3.connect(path) as conn:  # a reset: revisions start over
            conn.execute("DELETE FROM switch")
            conn.execute("UPDATE meta SET value = '0' WHERE key = 'revision'")
        with open_store(f"sqlite:///{path}") as store:
            store.set_state(
                MODEL,
                active=False,
                actor="ops@example.com",
                role="operator",
                reason="killed after the reset",
            )
        assert _wait_until(lambda: not guard.is_active(MODEL)), "guard kept serving"
    finally:
        guard.close()
