"""Many writers, one chain; a writer killed mid-append leaves a ledger that still verifies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest

from modelsteward.audit import AuditAction, Ledger

_WRITER = textwrap.dedent(
    """
    import sys
    from modelsteward.audit import Ledger
    ledger = Ledger(sys.argv[1])
    name, count = sys.argv[2], int(sys.argv[3])
    for i in range(count):
        ledger.append(action="drift.evaluated", actor=name, role="system", details={"i": i})
    """
)


def test_concurrent_processes_form_one_chain_with_every_record(tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    writers, per_writer = 6, 120
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(directory), f"writer-{n}", str(per_writer)]
        )
        for n in range(writers)
    ]
    for process in processes:
        assert process.wait(timeout=120) == 0
    ledger = Ledger(directory)
    report = ledger.verify()
    assert report.ok, report.to_dict()
    records = list(ledger.records())
    assert [r.seq for r in records] == list(range(1, writers * per_writer + 1))
    assert Counter(r.actor for r in records) == {f"writer-{n}": per_writer for n in range(writers)}
    for n in range(writers):  # each writer's own records keep their order
        mine = [r.details["i"] for r in records if r.actor == f"writer-{n}"]
        assert mine == list(range(per_writer))


def test_concurrent_threads_share_one_ledger(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger")
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(50):
                ledger.append(
                    action=AuditAction.ALERT_SENT, actor=name, role="system", details={"i": i}
                )
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = ledger.verify()
    assert report.ok and report.records == 400, report.to_dict()


_CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from modelsteward.audit import Ledger
    ledger = Ledger(sys.argv[1])
    for i in range(3):
        ledger.append(action="model.enabled", actor="before", role="guardian")
    mode = sys.argv[2]
    real_pwrite = os.pwrite
    def torn_write(fd, data, offset):
        if fd == ledger.store._fd:
            real_pwrite(fd, data[: len(data) // 2], offset)
            os.kill(os.getpid(), signal.SIGKILL)
        return real_pwrite(fd, data, offset)
    def killed_before_the_tail_note(fd, data, offset):
        if fd == ledger.store._sync_fd and offset > 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_pwrite(fd, data, offset)
    def killed_before_sync(fd):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "torn":
        os.pwrite = torn_write
    elif mode == "unnoted":
        os.pwrite = killed_before_the_tail_note
    else:
        os.fdatasync = killed_before_sync
    ledger.append(action="model.disabled", actor="crashing", role="operator")
    """
)


@pytest.mark.parametrize(("mode", "survivors"), [("torn", 3), ("unnoted", 4), ("unsynced", 4)])
def test_kill_9_during_an_append_leaves_a_ledger_that_verifies(
    tmp_path: Path, mode: str, survivors: int, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "ledger"
    result = subprocess.run([sys.executable, "-c", _CRASH, str(directory), mode], check=False)
    assert result.returncode == -9
    report = Ledger(directory).verify()
    assert report.ok and report.records == survivors, report.to_dict()
    assert bool(report.warnings) == (mode == "torn")
    ledger = Ledger(directory)
    with caplog.at_level("WARNING"):
        after = ledger.append(action="model.enabled", actor="after", role="guardian")
    assert after.seq == survivors + 1
    assert ("ledger_partial_record_discarded" in caplog.text) == (mode == "torn")
    final = ledger.verify()
    assert final.ok and final.records == survivors + 1 and not final.warnings


def test_a_forked_child_reopens_the_ledger_and_keeps_the_chain(tmp_path: Path) -> None:
    import os

    ledger = Ledger(tmp_path / "ledger")
    ledger.append(action="model.enabled", actor="parent", role="guardian")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            for _ in range(3):
                ledger.append(action="model.enabled", actor="child", role="guardian")
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    last = ledger.append(action="model.enabled", actor="parent", role="guardian")
    assert last.seq == 5
    assert [r.actor for r in ledger.records()] == ["parent", "child", "child", "child", "parent"]
    assert ledger.verify().ok
    assert ledger.last() == last


_FORKING_PARENT = textwrap.dedent(
    """
    import os, signal, sys, time
    from modelsteward.audit import Ledger
    ledger = Ledger(sys.argv[1])
    ledger.append(action="model.enabled", actor="parent", role="guardian")
    if os.fork() == 0:  # an idle child (a multiprocessing worker, a preloading server)
        time.sleep(20)
        os._exit(0)
    if sys.argv[2] == "data":  # killed holding the data lock
        real = os.pwrite
        def killed(fd, data, offset):
            if fd == ledger.store._fd:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(fd, data, offset)
        os.pwrite = killed
    else:  # killed holding the sync lock
        os.fdatasync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
    ledger.append(action="model.disabled", actor="crashing", role="operator")
    """
)

_NEXT = textwrap.dedent(
    """
    import sys
    from modelsteward.audit import Ledger
    print(Ledger(sys.argv[1]).append(action="model.enabled", actor="after", role="guardian").seq)
    """
)


@pytest.mark.parametrize("lock", ["data", "sync"])
def test_a_forked_childs_copies_never_keep_a_dead_parents_lock(tmp_path: Path, lock: str) -> None:
    directory = tmp_path / "ledger"
    parent = subprocess.run(
        [sys.executable, "-c", _FORKING_PARENT, str(directory), lock], check=False
    )
    assert parent.returncode == -9
    after = subprocess.run(
        [sys.executable, "-c", _NEXT, str(directory)],
        capture_output=True,
        text=True,
        timeout=12,  # a lock kept alive by the idle child would block until it exits (20 s)
        check=True,
    )
    assert int(after.stdout) in (2, 3)  # the crashing record was torn (data) or kept (sync)
    assert Ledger(directory).verify().ok
