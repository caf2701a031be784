"""The guard: a serving app asks "may this model serve?" before every prediction.

:meth:`Guard.check` answers from an in-process table, a dict lookup and a monotonic clock read
(well under a microsecond), never from the network. A background thread keeps the table fresh:
it blocks on :meth:`~modelsteward.killswitch.KillSwitchStore.wait_for_change`, which Redis wakes
with a pub/sub push and SQLite with a ``PRAGMA data_version`` poll every couple of milliseconds,
and reloads every state when the store's global revision moves. Each successful round marks
the table *verified*.

Bounded staleness: when the table was last verified longer ago than a model's
``max_staleness_seconds``, the guard follows the model's ``on_unknown``: ``block`` (fail closed,
the default) refuses; ``allow`` serves unless the last known state was a kill. A model with no
state at all was never approved to serve and is refused, unless its policy says ``allow``.
The last good table is kept through store outages. Per-model rules usually come from the
policies' ``guard`` section (:meth:`Guard.from_env` loads them).

Clean up with :meth:`Guard.close` or ``with Guard(...) as guard:``; tests inject a ``clock`` and
drive :meth:`Guard.refresh` themselves (``start=False``), so they never sleep.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from modelsteward.errors import ConfigError, ModelDisabledError
from modelsteward.killswitch import KillSwitchStore, SwitchState, open_store

__all__ = ["Guard", "GuardRule", "ModelDisabledError"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

OnUnknown = Literal["block", "allow"]


class _RuleLike(Protocol):
    @property
    def on_unknown(self) -> str: ...

    @property
    def max_staleness_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class GuardRule:
    """How the guard treats one model (the policy's ``guard`` section has the same fields)."""

    on_unknown: OnUnknown = "block"
    max_staleness_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.on_unknown not in ("block", "allow"):
            raise ConfigError(
                f"guard.on_unknown: got {self.on_unknown!r}; expected 'block' or 'allow'"
            )
        if not self.max_staleness_seconds > 0:
            raise ConfigError(
                f"guard.max_staleness_seconds: got {self.max_staleness_seconds!r}; "
                "expected a number of seconds above 0"
            )

    @classmethod
    def of(cls, rule: _RuleLike) -> GuardRule:
        on_unknown = str(rule.on_unknown)
        if on_unknown not in ("block", "allow"):
            raise ConfigError(f"guard.on_unknown: got {on_unknown!r}; expected 'block' or 'allow'")
        return cls(
            on_unknown="allow" if on_unknown == "allow" else "block",
            max_staleness_seconds=float(rule.max_staleness_seconds),
        )


# One table entry per model, a plain tuple for the fastest possible check:
# (serve when fresh, max staleness, serve when stale, refusal reason, revision)
_Entry = tuple[bool, float, bool, str, int]


def _entry(state: SwitchState | None, rule: GuardRule) -> _Entry:
    allow_unknown = rule.on_unknown == "allow"
    if state is None:
        reason = (
            "no kill-switch state: never approved to serve (on_unknown=block)"
            if not allow_unknown
            else ""
        )
        return (allow_unknown, rule.max_staleness_seconds, allow_unknown, reason, 0)
    if state.active:
        reason = ""
    else:
        reason = f"disabled by {state.actor} ({state.role}) at {state.changed_at.isoformat()}"
        if state.reason:
            reason += f": {state.reason}"
    return (
        state.active,
        rule.max_staleness_seconds,
        allow_unknown and state.active,
        reason,
        state.revision,
    )


def _restart_after_fork(ref: weakref.ref[Guard]) -> None:
    guard = ref()
    if guard is not None:
        guard._after_fork()


class Guard:
    """In-process, always-answering view of the kill switch for a serving app."""

    def __init__(
        self,
        store: KillSwitchStore,
        *,
        rules: Mapping[str, _RuleLike] | None = None,
        default_rule: GuardRule | None = None,
        refresh_seconds: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        start: bool = True,
        owns_store: bool = False,
    ):
        if not refresh_seconds > 0:
            raise ConfigError(
                f"guard refresh_seconds: got {refresh_seconds!r}; expected a number above 0"
            )
        self._store = store
        self._owns_store = owns_store
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._default_rule = default_rule or GuardRule()
        self._rules = {model: GuardRule.of(rule) for model, rule in (rules or {}).items()}
        self._default: _Entry = _entry(None, self._default_rule)
        self._states: dict[str, SwitchState] = {}
        self._entries: dict[str, _Entry] = self._build({})
        self._verified_at = -math.inf
        self._applied_revision = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._fork_hook = False
        if start:
            self.start()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_env(
        cls,
        *,
        url: str | None = None,
        rules: Mapping[str, _RuleLike] | None = None,
        load_policies: bool = True,
        clock: Callable[[], float] = time.monotonic,
        start: bool = True,
    ) -> Guard:
        """A guard on ``STEWARD_KILLSWITCH_URL`` (default SQLite under ``STEWARD_HOME``).

        Rules come from the policies in ``STEWARD_POLICY_DIR`` (their ``guard`` section) when
        that directory exists, then from ``rules``. The first refresh happens before this
        returns (a failure is logged; the guard then fails closed until the store answers).
        """
        from modelsteward.settings import load_settings

        settings = load_settings()
        merged: dict[str, _RuleLike] = {}
        if load_policies and settings.policy_dir.is_dir():
            from modelsteward.policy import load_policy_dir

            merged.update(
                {
                    name: policy.guard
                    for name, policy in load_policy_dir(settings.policy_dir).items()
                }
            )
        merged.update(rules or {})
        store = open_store(url or settings.killswitch)
        guard = cls(
            store,
            rules=merged,
            default_rule=GuardRule(max_staleness_seconds=settings.guard_max_staleness_seconds),
            refresh_seconds=settings.guard_refresh_seconds,
            clock=clock,
            start=False,
            owns_store=True,
        )
        try:
            guard.refresh()
        except Exception as err:  # the guard must come up even when the store is down
            log.warning("event=guard_first_refresh_failed store=%s error=%s", store, err)
        if start:
            guard.start()
        return guard

    # ------------------------------------------------------------------ the hot path
    def check(self, model: str) -> None:
        """Return if ``model`` may serve now; raise :class:`ModelDisabledError` otherwise."""
        entry = self._entries.get(model) or self._default
        if self._clock() - self._verified_at <= entry[1]:
            if entry[0]:
                return
        elif entry[2]:
            return
        raise self._refusal(model, entry)

    def is_active(self, model: str) -> bool:
        """``True`` if ``model`` may serve now (what :meth:`check` decides, as a boolean)."""
        entry = self._entries.get(model) or self._default
        if self._clock() - self._verified_at <= entry[1]:
            return entry[0]
        return entry[2]

    def protect(self, model: str) -> Callable[[F], F]:
        """Decorator: call :meth:`check` before every call of the function (sync or async)."""

        def decorate(function: F) -> F:
            if inspect.iscoroutinefunction(function):

                @functools.wraps(function)
                async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                    self.check(model)
                    return await function(*args, **kwargs)

                return guarded_async  # type: ignore[return-value]

            @functools.wraps(function)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                self.check(model)
                return function(*args, **kwargs)

            return guarded  # type: ignore[return-value]

        return decorate

    def _refusal(self, model: str, entry: _Entry) -> ModelDisabledError:
        age = self._clock() - self._verified_at
        if age > entry[1]:
            known = "" if entry[0] or not entry[3] else f"; last known: {entry[3]}"
            reason = (
                f"kill-switch state is stale (last verified {age:.1f}s ago, bound "
                f"{entry[1]:g}s) and on_unknown=block{known}"
                if math.isfinite(age)
                else f"kill-switch state never loaded from {self._store} (on_unknown=block)"
            )
        else:
            reason = entry[3]
        return ModelDisabledError(model, reason, revision=self._applied_revision)

    # ------------------------------------------------------------------ state
    @property
    def applied_revision(self) -> int:
        """The store revision this guard's table reflects (confirm a kill fleet-wide)."""
        return self._applied_revision

    @property
    def verified_age_seconds(self) -> float:
        """Seconds since the table was last confirmed against the store (inf: never)."""
        return self._clock() - self._verified_at

    def state(self, model: str) -> SwitchState | None:
        """The last state loaded for ``model`` (``None`` if it has none)."""
        return self._states.get(model)

    def rule(self, model: str) -> GuardRule:
        return self._rules.get(model, self._default_rule)

    def _build(self, states: Mapping[str, SwitchState]) -> dict[str, _Entry]:
        entries = {model: _entry(None, rule) for model, rule in self._rules.items()}
        for model, state in states.items():
            entries[model] = _entry(state, self._rules.get(model, self._default_rule))
        return entries

    def refresh(self) -> int:
        """One synchronous round against the store; returns the applied revision.

        Raises :class:`~modelsteward.errors.ExternalServiceError` when the store fails (the
        table is kept as it was and its age keeps growing).
        """
        started = self._clock()
        revision = self._store.revision()
        if revision != self._applied_revision:
            self._load(revision)
        self._verified_at = started
        return self._applied_revision

    def _load(self, revision: int) -> None:
        states = self._store.all_states()
        applied = max([revision, *(s.revision for s in states.values())])
        self._entries = self._build(states)
        self._states = states
        with self._changed:
            self._applied_revision = applied
            self._changed.notify_all()
        log.debug("event=guard_applied revision=%d models=%d", applied, len(states))

    def _apply(self, revision: int, changed: Mapping[str, SwitchState]) -> None:
        """Apply the changes a store pushed (or listed) since the applied revision."""
        states = {**self._states, **changed}
        entries = dict(self._entries)
        for model, state in changed.items():
            entries[model] = _entry(state, self._rules.get(model, self._default_rule))
        self._entries = entries
        self._states = states
        with self._changed:
            self._applied_revision = max(revision, self._applied_revision)
            self._changed.notify_all()

    def wait_for_revision(self, revision: int, timeout_seconds: float) -> bool:
        """Block until the applied revision reaches ``revision``; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._applied_revision >= revision, timeout=timeout_seconds
            )

    # ------------------------------------------------------------------ background refresh
    def start(self) -> Guard:
        """Start the background refresh thread (idempotent).

        A forked child (gunicorn ``--preload``, multiprocessing) restarts its own thread.
        """
        if not self._fork_hook:
            self._fork_hook = True
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _restart_after_fork(ref))
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="steward-guard-refresh", daemon=True
            )
            self._thread.start()
        return self

    def _after_fork(self) -> None:
        running = self._thread is not None and not self._stop.is_set()
        self._thread = None
        # the parent's thread may have held these locks at the fork: start the child afresh
        self._changed = threading.Condition()
        self._stop = threading.Event()
        if running:
            self.start()

    def _run(self) -> None:
        backoff = self._refresh_seconds
        while not self._stop.is_set():
            started = self._clock()
            try:
                revision, changed = self._store.wait_for_changes(
                    self._applied_revision, self._refresh_seconds
                )
                if changed is None or revision < self._applied_revision or self._failing:
                    # a replaced or reset store, or the first round after an outage: what
                    # changed since our revision cannot be trusted, so reload everything
                    self._load(revision)
                elif revision != self._applied_revision:
                    self._apply(revision, changed)
                self._verified_at = started
            except Exception as err:  # keep the last good table; staleness decides
                if not self._failing:
                    log.warning("event=guard_refresh_failed store=%s error=%s", self._store, err)
                    self._failing = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if self._failing:
                log.info("event=guard_refresh_recovered store=%s", self._store)
                self._failing = False
            backoff = self._refresh_seconds

    def close(self) -> None:
        """Stop the refresh thread and, if the guard opened it, the store."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._refresh_seconds + 10)
        if self._owns_store:
            self._store.close()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Guard(store={self._store!r}, applied_revision={self._applied_revision})"
