"""A decision answered from this process goes only to the run this process started.

The private tag of such a run is visible in the Prefect API: another run carrying it (started
by anyone who can reach the API) must not receive the Guardian's decision (nor its signature).
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid

import pytest

pytestmark = pytest.mark.slow


def _state(run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(uuid.UUID(run_id)).state
    return state.type.value if state else "NONE"


def test_a_foreign_run_carrying_the_tag_never_receives_the_decision(prefect_harness) -> None:  # type: ignore[no-untyped-def]
    from prefect import flow, tags
    from prefect.context import FlowRunContext
    from prefect.flow_runs import pause_flow_run

    from flows import _approval
    from flows._approval import ApprovalInput, answer_in_background, note_local_run

    received: dict[str, ApprovalInput] = {}
    run_ids: dict[str, str] = {}

    @flow(name="pauses-for-approval")
    def pauses(name: str, ours: bool) -> None:
        context = FlowRunContext.get()
        assert context is not None and context.flow_run is not None
        run_ids[name] = str(context.flow_run.id)
        if ours:
            note_local_run()
        received[name] = pause_flow_run(  # type: ignore[call-overload]
            wait_for_input=ApprovalInput, timeout=60, poll_interval=0.2, key="approval"
        )

    tag = f"onboarding-request:{uuid.uuid4().hex}"
    with _approval._LOCAL_LOCK:
        _approval._LOCAL_RUNS[tag] = None

    def start(name: str, ours: bool) -> threading.Thread:
        def body() -> None:
            with tags(tag):
                pauses(name, ours)

        thread = threading.Thread(target=contextvars.copy_context().run, args=(body,))
        thread.start()
        return thread

    foreign = start("foreign", ours=False)  # an attacker's run, with our tag, paused first
    deadline = time.monotonic() + 60
    while "foreign" not in run_ids or _state(run_ids["foreign"]) != "PAUSED":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    decision = ApprovalInput(approve=True, approver="ai-security@example.com")
    stop = threading.Event()
    errors: list[BaseException] = []
    answerer = threading.Thread(
        target=contextvars.copy_context().run,
        args=(answer_in_background, tag, [decision], stop, errors),
    )
    answerer.start()
    time.sleep(2)
    assert _state(run_ids["foreign"]) == "PAUSED" and "foreign" not in received
    ours = start("ours", ours=True)  # the run this process started says which it is
    ours.join(60)
    answerer.join(10)
    assert errors == [] and received["ours"].approve is True
    assert _state(run_ids["foreign"]) == "PAUSED" and "foreign" not in received
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(
        uuid.UUID(run_ids["foreign"]),
        run_input={"approve": False, "approver": "nobody@example.com"},
    )
    foreign.join(60)
    with _approval._LOCAL_LOCK:
        _approval._LOCAL_RUNS.pop(tag, None)
