"""Starting the ``kill-model`` follow-up without making anyone wait for it.

The HTTP service has already turned the switch off when it calls a kill runner; the flow run
does the slower rest (MLflow alias, notices). A runner is any callable taking a
:class:`~modelsteward.killswitch.control.KillRequest`; the app calls it on a background thread
and never lets it fail a response. :class:`PrefectKillRunner` creates a run of the
``kill-model`` deployment through the Prefect API (Prefect imported on first use, only there);
when no API is configured or it cannot be reached, it logs and appends the request to
``$STEWARD_HOME/pending/kill-model.jsonl`` so the follow-up is not lost.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelsteward.killswitch.control import KillRequest

__all__ = ["KillRunner", "PrefectKillRunner", "drain_pending", "record_pending"]

log = logging.getLogger(__name__)

KillRunner = Callable[[KillRequest], Any]

DEPLOYMENT = "kill-model/kill-model"
_pending_lock = threading.Lock()


def record_pending(home: Path, request: KillRequest, why: str) -> Path:
    """Append ``request`` to the pending follow-ups under ``home`` and return the file."""
    path = home / "pending" / "kill-model.jsonl"
    entry = {
        "ts": datetime.now(UTC).isoformat(),
        "deployment": DEPLOYMENT,
        "why": why,
        "idempotency_key": request.idempotency_key,
        "parameters": request.parameters(),
    }
    with _pending_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
    log.warning(
        "event=kill_follow_up_pending model=%s revision=%d why=%s file=%s",
        request.model,
        request.revision,
        why,
        path,
    )
    return path


class PrefectKillRunner:
    """Create a ``kill-model`` deployment run (no waiting), or record it as pending."""

    def __init__(self, home: Path, *, deployment: str = DEPLOYMENT):
        self.home = home
        self.deployment = deployment

    def __call__(self, request: KillRequest) -> str:
        if not os.environ.get("PREFECT_API_URL"):
            record_pending(self.home, request, "PREFECT_API_URL is not set")
            return "pending"
        try:
            from prefect.deployments import run_deployment

            flow_run = run_deployment(
                name=self.deployment,
                parameters=request.parameters(),
                timeout=0,
                idempotency_key=request.idempotency_key,
                as_subflow=False,
                tags=["steward", f"model:{request.model}", f"source:{request.source}"],
            )
        except Exception as err:  # the follow-up must never fail the kill itself
            record_pending(self.home, request, f"{type(err).__name__}: {err}"[:300])
            return "pending"
        run_id = str(getattr(flow_run, "id", flow_run))
        log.info("event=kill_follow_up_started model=%s flow_run=%s", request.model, run_id)
        return run_id


def drain_pending(home: Path, *, deployment: str = DEPLOYMENT) -> tuple[int, int]:
    """Start the ``kill-model`` runs recorded as pending while no Prefect API answered.

    Each entry keeps its idempotency key (Prefect starts it once however often this runs) and
    its ``switch_revision`` (a follow-up overtaken by a later re-enable does nothing). Entries
    that still cannot be started stay in the file. Returns (started, still pending).
    """
    path = home / "pending" / "kill-model.jsonl"
    if not path.exists() or not os.environ.get("PREFECT_API_URL"):
        return 0, _count_lines(path)
    from prefect.deployments import run_deployment

    with _pending_lock:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        remaining: list[str] = []
        started = 0
        for line in lines:
            try:
                entry = json.loads(line)
                run_deployment(
                    name=entry.get("deployment", deployment),
                    parameters=entry["parameters"],
                    timeout=0,
                    idempotency_key=entry.get("idempotency_key"),
                    as_subflow=False,
                    tags=["steward", "source:pending"],
                )
                started += 1
            except Exception as err:  # keep it for the next attempt
                log.warning("event=pending_follow_up_kept error=%s", f"{err}"[:200])
                remaining.append(line)
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(f"{line}\n" for line in remaining), encoding="utf-8")
        os.replace(tmp, path)
    log.info("event=pending_follow_ups_drained started=%d remaining=%d", started, len(remaining))
    return started, len(remaining)


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
