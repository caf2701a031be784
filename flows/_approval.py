"""What the approval flows share: the Guardian's decision, answering a paused run from
outside (``steward approve``, ``--approve-as``), and the ledger writer of a flow run.

``onboard-model`` and ``reenable-model`` pause with ``pause_flow_run(wait_for_input=
ApprovalInput)``; the Prefect UI renders the input as a form, :func:`approve_paused_run`
answers from the shell, and :func:`run_with_decisions` runs a flow here while a background
thread answers its pause(s), exactly as a person would.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from prefect.exceptions import FlowPauseTimeout, NotPausedError, ObjectNotFound
from prefect.input import RunInput
from pydantic import Field

from modelsteward.errors import ExternalServiceError, NotFoundError, StewardError
from modelsteward.settings import StewardSettings

__all__ = [
    "ApprovalInput",
    "FlowAudit",
    "approve_paused_run",
    "await_guardian",
    "role_of",
    "run_with_decisions",
]

R = TypeVar("R")


class ApprovalInput(RunInput):
    """The Guardian's decision, given in the Prefect UI or with ``steward approve``."""

    approve: bool = Field(description="Approve (true) or reject (false) this deployment.")
    approver: str = Field(
        min_length=3, description="E-mail of the approver: the policy's Guardian or a delegate."
    )
    risk_assessment: str = Field(
        default="", max_length=4000, description="The Guardian's risk assessment."
    )
    comment: str = Field(default="", max_length=2000, description="Anything else to record.")
    signature: str = Field(
        default="",
        max_length=200,
        description="Ed25519 signature of this decision by the approver's key (filled in by "
        "`steward approve --key`); required when the policy sets approval.require_signature.",
    )


class FlowAudit:
    """Appends to the ledger with the model, version and flow run filled in."""

    def __init__(
        self, settings: StewardSettings, model: str | None, run_id: str | None, actor: str
    ) -> None:
        from modelsteward.audit import Ledger

        self.ledger = Ledger.from_settings(settings)
        self.model = model
        self.version: str | None = None
        self.run_id = run_id
        self.actor = actor

    def __call__(
        self,
        action: str,
        details: dict[str, Any] | None = None,
        *,
        actor: str | None = None,
        role: str = "system",
    ) -> None:
        self.ledger.append(
            action=action,
            actor=actor or self.actor,
            role=role,
            model=self.model,
            version=self.version,
            details={"flow_run_id": self.run_id, **(details or {})},
        )

    def close(self) -> None:
        self.ledger.close()


# --- answering the pause from outside ------------------------------------------------------
def approve_paused_run(
    flow_run_id: str | uuid.UUID,
    decision: ApprovalInput | dict[str, Any],
    *,
    timeout_seconds: float = 30.0,
    key: Any = None,
) -> None:
    """Resume a paused approval (onboard-model, reenable-model) with ``decision``.

    With ``key`` (the approver's Ed25519 private key) the decision is signed for this run.
    Raises NotFoundError when the run does not exist or is not waiting for approval.
    """
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    data = decision.model_dump() if isinstance(decision, ApprovalInput) else dict(decision)
    # refuse malformed input before touching the run; sign exactly what the run will read
    data = ApprovalInput.model_validate(data).model_dump()
    run_uuid = uuid.UUID(str(flow_run_id))
    if key is not None:
        from modelsteward.approvals import sign_approval

        data["signature"] = sign_approval(key, flow_run_id=str(run_uuid), decision=data)
    deadline = time.monotonic() + timeout_seconds
    while True:
        with get_client(sync_client=True) as client:
            try:
                run = client.read_flow_run(run_uuid)
            except ObjectNotFound as err:
                raise NotFoundError(f"flow run {flow_run_id}: not found") from err
            except Exception as err:
                raise ExternalServiceError(
                    f"Prefect API unreachable reading flow run {flow_run_id}: {err} "
                    "(steward approve needs the API the run uses: PREFECT_API_URL)"
                ) from err
        if run.state is not None and run.state.is_paused():
            try:
                resume_flow_run(run_uuid, run_input=data)
                return
            except NotPausedError:
                pass  # answered or timed out meanwhile: the next read says which
            except FlowPauseTimeout as err:
                raise NotFoundError(
                    f"flow run {flow_run_id}: the approval window closed (policy timeout)"
                ) from err
            except RuntimeError as err:  # the input schema is saved just after the pause
                if time.monotonic() > deadline:
                    raise NotFoundError(f"flow run {flow_run_id}: cannot resume: {err}") from err
        elif run.state is not None and run.state.is_final():
            raise NotFoundError(
                f"flow run {flow_run_id} is {run.state.type.value}, not waiting for approval"
            )
        elif time.monotonic() > deadline:
            raise NotFoundError(f"flow run {flow_run_id} is not paused for approval")
        time.sleep(0.2)


def paused_run_with_tag(tag: str) -> str | None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[tag]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
            ),
            limit=1,
        )
    return str(runs[0].id) if runs else None


#: The private tags of the runs :func:`run_with_decisions` started in this process, and the
#: id of each run once it says so (:func:`note_local_run`). A decision is delivered only to
#: that run: the tag is visible in the Prefect API, so another run carrying it (started by
#: anyone who can reach the API) must never receive the Guardian's (signed) decision.
_LOCAL_RUNS: dict[str, str | None] = {}
_LOCAL_LOCK = threading.Lock()


def note_local_run() -> None:
    """Called by a flow run before it pauses: if this process started it with
    :func:`run_with_decisions`, its answering thread may now answer it (and nothing else)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None:
        return
    with _LOCAL_LOCK:
        for tag in run.tags or ():
            if tag in _LOCAL_RUNS and _LOCAL_RUNS[tag] is None:
                _LOCAL_RUNS[tag] = str(run.id)


def _local_run(tag: str) -> str | None:
    with _LOCAL_LOCK:
        return _LOCAL_RUNS.get(tag)


def answer_in_background(
    tag: str,
    decisions: list[ApprovalInput],
    stop: threading.Event,
    errors: list[BaseException],
    key: Any = None,
) -> None:
    for decision in decisions:
        while not stop.is_set():
            try:
                run_id = _local_run(tag)
                if run_id is not None and _is_paused(run_id):
                    approve_paused_run(run_id, decision, key=key)
                    break
            except Exception as err:  # surfaced by run_with_decisions
                errors.append(err)
                return
            stop.wait(0.2)


def _is_paused(flow_run_id: str) -> bool:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(uuid.UUID(flow_run_id)).state
    return state is not None and state.is_paused()


def ensure_api() -> None:
    """Reach the Prefect API once from this thread before another thread does.

    Without ``PREFECT_API_URL`` Prefect starts a temporary server on first use; two threads
    racing to the first use would start two (one left orphaned) or fail.
    """
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.api_healthcheck()


def run_with_decisions(
    run: Callable[[], R],
    *,
    decisions: list[ApprovalInput] | None,
    tag_prefix: str,
    key: Any = None,
) -> tuple[R, list[BaseException]]:
    """Call ``run()`` (a flow call) while a background thread answers its approval pause(s)
    with ``decisions``, in order (signed with ``key`` when given); returns the result and the
    errors of answering."""
    from prefect import tags

    tag = f"{tag_prefix}:{uuid.uuid4().hex}"
    with _LOCAL_LOCK:
        _LOCAL_RUNS[tag] = None  # filled in by the run itself (note_local_run)
    stop = threading.Event()
    errors: list[BaseException] = []
    thread = None
    if decisions:
        ensure_api()
        context = contextvars.copy_context()  # the Prefect API settings of this thread
        thread = threading.Thread(
            target=context.run,
            args=(answer_in_background, tag, decisions, stop, errors, key),
            name=f"{tag_prefix}-approver",
            daemon=True,
        )
        thread.start()
    try:
        with tags(tag):
            result = run()
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=10)
        with _LOCAL_LOCK:
            _LOCAL_RUNS.pop(tag, None)
    return result, errors


def delivery_error(error: BaseException) -> StewardError:
    """The error to raise when a decision could not be delivered to the paused run."""
    if isinstance(error, StewardError):
        return error
    return ExternalServiceError(f"the approval could not be delivered: {error}")


def role_of(policy: Any, email: str) -> str:
    """The role ``email`` holds in ``policy`` ("system" when it holds none), for the ledger."""
    for role in ("guardian", "operator", "owner"):
        if policy.contact(role).may_act(email):
            return role
    return "system"  # not in the policy at all; the record still says who it was


def await_guardian(
    policy: Any,
    audit: FlowAudit,
    *,
    timeout_seconds: float,
    poll_seconds: float,
    key_prefix: str,
    attempted: tuple[str, str],
    refusal_reason: str,
    details: dict[str, Any],
) -> tuple[ApprovalInput | None, list[str]]:
    """Pause for the Guardian's decision until it comes or ``timeout_seconds`` pass.

    Anyone but the policy's Guardian or a delegate is refused (``access.refused``, in the role
    the policy gives them) and the run keeps waiting; the Guardian's decision is recorded as
    ``approval.granted`` or ``approval.rejected``; a timeout as ``approval.rejected``.
    ``attempted`` names an approval and a rejection in refusal records; ``details`` go into
    the decision and timeout records. Returns (decision or None, refused approvers).
    """
    from prefect import get_run_logger
    from prefect.flow_runs import pause_flow_run

    from modelsteward.approvals import check_approval

    guardian = policy.roles.guardian
    refused: list[str] = []
    deadline = time.monotonic() + timeout_seconds
    attempt = 0
    while True:
        remaining = int(deadline - time.monotonic())
        if remaining < 1:
            break
        attempt += 1
        note_local_run()
        try:
            decision: ApprovalInput = pause_flow_run(  # type: ignore[call-overload]
                wait_for_input=ApprovalInput,
                timeout=remaining,
                poll_interval=poll_seconds,  # prefect types it int; a float works
                key=f"{key_prefix}-{attempt}",
            )
        except FlowPauseTimeout:
            break
        verdict = None
        if guardian.may_act(decision.approver):
            verdict = check_approval(
                keys=policy.approval.signers,
                require_signature=policy.approval.require_signature,
                flow_run_id=str(audit.run_id),
                approve=decision.approve,
                approver=decision.approver,
                risk_assessment=decision.risk_assessment,
                comment=decision.comment,
                signature=decision.signature,
            )
        if verdict is not None and verdict.accepted:
            audit(
                "approval.granted" if decision.approve else "approval.rejected",
                {
                    **details,
                    "approver": decision.approver,
                    "risk_assessment": decision.risk_assessment,
                    "comment": decision.comment,
                    **verdict.details(),
                    # with flow_run_id and the fields above: re-verifiable by any auditor
                    **({"signature": decision.signature} if verdict.signed else {}),
                },
                actor=decision.approver,
                role="guardian",
            )
            return decision, refused
        refused.append(decision.approver)
        audit(
            "access.refused",
            {
                "attempted": attempted[0] if decision.approve else attempted[1],
                "reason": verdict.reason if verdict is not None else refusal_reason,
                "allowed": [str(guardian.email), *(str(d) for d in guardian.delegates)],
                **(verdict.details() if verdict is not None else {}),
            },
            actor=decision.approver,
            role=role_of(policy, decision.approver),
        )
        get_run_logger().warning(
            "event=approval_refused model=%s approver=%s", policy.model, decision.approver
        )
    audit(
        "approval.rejected",
        {**details, "reason": "timeout", "timeout_seconds": timeout_seconds},
    )
    return None, refused
