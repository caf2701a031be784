"""The kill switch: may this model serve right now?

One small store per deployment holds, for every model, whether it is active, which version,
who changed it, in which role, why and when, plus one global revision that every change bumps.
Two backends behind :class:`KillSwitchStore`:

- ``sqlite:///PATH`` (embedded default, ``$STEWARD_HOME/killswitch.db``): WAL, several processes
  on one machine; watchers poll ``PRAGMA data_version`` (microseconds) to see commits.
- ``redis://HOST:PORT/DB[?prefix=...]`` (a fleet of machines): a hash per model, a global
  revision, and a pub/sub push on every change, with polling as the fallback.

Serving apps read it through :class:`modelsteward.Guard`; the HTTP service, the CLI and the
``kill-model`` flow write it. Nothing here imports Prefect.
"""

from __future__ import annotations

from pathlib import Path

from modelsteward.errors import ConfigError
from modelsteward.killswitch._base import KillSwitchStore, SwitchState, validate_model_name

__all__ = ["KillSwitchStore", "SwitchState", "open_store", "validate_model_name"]


def open_store(url: str, *, prefix: str | None = None) -> KillSwitchStore:
    """Open the store at ``url`` (``settings.killswitch``): ``sqlite:///PATH`` or ``redis://``.

    ``prefix`` namespaces the Redis keys (also settable as ``?prefix=`` in the URL).
    """
    if url.startswith("sqlite:///"):
        from modelsteward.killswitch._sqlite import SqliteStore

        path = url.removeprefix("sqlite:///")
        if not path:
            raise ConfigError(f"STEWARD_KILLSWITCH_URL: got {url!r}; expected sqlite:///PATH")
        # sqlite:////abs/path and sqlite:///rel/path, as SQLAlchemy reads them
        return SqliteStore(Path(path))
    if url.startswith(("redis://", "rediss://", "unix://")):
        from modelsteward.killswitch._redis import RedisStore

        return RedisStore(url, prefix=prefix)
    raise ConfigError(
        f"STEWARD_KILLSWITCH_URL: got {url!r}; expected sqlite:///PATH or redis://HOST:PORT/DB"
    )
