"""``steward kill | enable | status | token create | serve`` on a private STEWARD_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from modelsteward.audit import Ledger
from modelsteward.cli import cli
from modelsteward.embedded import free_port
from modelsteward.killswitch import open_store
from modelsteward.service.tokens import TokenStore
from modelsteward.settings import load_settings
from tests._pagerduty import body_of, headers, incident_event

MODEL = "fraud-detector"
GUARDIAN = "ai-security@example.com"
DELEGATE = "ciso@example.com"
OPERATOR = "mlops-oncall@example.com"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _state(home: Path):
    with open_store(f"sqlite:///{home / 'killswitch.db'}") as store:
        return store.get_state(MODEL)


def _ledger_actions(home: Path) -> list[tuple[str, str, str]]:
    with Ledger.from_settings(load_settings()) as ledger:
        return [(r.action.value, r.actor, r.role) for r in ledger.records()]


def test_kill_then_enable_by_guardian_delegate(steward_home: Path) -> None:
    code, out, _ = _run("kill", MODEL, "--reason", "drift 70%", "--as", OPERATOR)
    assert code == 0, out
    assert f"{MODEL} disabled (revision 1) by {OPERATOR} (operator): drift 70%" in out
    assert _state(steward_home).active is False

    code, out, _ = _run("kill", MODEL, "--reason", "again", "--as", GUARDIAN)
    assert code == 0
    assert "already disabled" in out
    assert _state(steward_home).reason == "drift 70%"

    code, out, _ = _run("enable", MODEL, "--as", DELEGATE, "--version", "4", "--switch-only")
    assert code == 0, out
    state = _state(steward_home)
    assert (state.active, state.version, state.actor) == (True, "4", DELEGATE)
    assert _ledger_actions(steward_home) == [
        ("model.disabled", OPERATOR, "operator"),
        ("model.disabled", GUARDIAN, "guardian"),
        ("model.enabled", DELEGATE, "guardian"),
    ]


@pytest.mark.parametrize("actor", [OPERATOR, "dana.whitfield@example.com", "stranger@example.com"])
def test_only_the_guardian_may_enable(steward_home: Path, actor: str) -> None:
    _run("kill", MODEL, "--reason", "x", "--as", OPERATOR)
    code, _, err = _run("enable", MODEL, "--as", actor)
    assert code == 5
    assert "only a Guardian may" in err
    assert _state(steward_home).active is False
    assert _ledger_actions(steward_home)[-1][0] == "access.refused"


def test_enable_without_policy_is_refused(steward_home: Path) -> None:
    code, _, err = _run("enable", "no-policy-model", "--as", GUARDIAN)
    assert code == 3
    assert "cannot tell who its Guardian is" in err


def test_kill_rejects_bad_model_name(steward_home: Path) -> None:
    code, _, err = _run("kill", "Bad Name", "--reason", "x", "--as", OPERATOR)
    assert code == 3
    assert "model name: got 'Bad Name'" in err


def test_status_json_lists_policies_and_states_with_owners(steward_home: Path) -> None:
    _run("kill", MODEL, "--reason", "incident", "--as", OPERATOR, "--role", "guardian")
    code, out, _ = _run("status", "--json")
    assert code == 0
    rows = {row["model"]: row for row in json.loads(out)}
    assert MODEL in rows
    row = rows[MODEL]
    assert {k: row[k] for k in ("active", "version", "changed_by", "reason", "role")} == {
        "active": False,
        "version": None,
        "changed_by": OPERATOR,
        "reason": "incident",
        "role": "guardian",
    }
    assert row["owners"] == {
        "owner": "dana.whitfield@example.com",
        "guardian": GUARDIAN,
        "operator": OPERATOR,
    }
    code, out, _ = _run("status", MODEL)
    assert code == 0
    assert "NO" in out and "incident" in out
    code, _, err = _run("status", "unknown-model")
    assert code == 7
    assert "unknown model 'unknown-model'" in err


def test_token_create_prints_token_once_on_the_last_line(steward_home: Path) -> None:
    code, out, _ = _run("token", "create", "--role", "operator", "--name", "oncall")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("stw_")
    assert token not in out.strip().splitlines()[0]
    tokens = TokenStore.at_home(steward_home)
    try:
        info = tokens.lookup(token)
        assert info is not None
        assert (info.name, info.role) == ("oncall", "operator")
    finally:
        tokens.close()
    assert token.encode() not in (steward_home / "tokens.db").read_bytes()
    assert _ledger_actions(steward_home)[-1][0] == "token.created"
    code, _, _ = _run("token", "create", "--role", "admin", "--name", "x")
    assert code == 2


@pytest.mark.slow
def test_steward_serve_answers_a_signed_webhook(steward_home: Path) -> None:
    """The real console command in a subprocess, real HTTP on loopback."""
    port = free_port()
    env = {**os.environ, "STEWARD_PAGERDUTY_WEBHOOK_SECRETS": "s3cret"}
    env.pop("PREFECT_API_URL", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "steward"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, timeout=5) as client:
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "steward serve did not come up"
                time.sleep(0.1)
            body = body_of(incident_event())
            response = client.post(
                "/webhooks/pagerduty", content=body, headers=headers(body, "s3cret")
            )
            assert response.status_code == 202, response.text
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert _state(steward_home).active is False
    pending = steward_home / "pending" / "kill-model.jsonl"
    assert "PREFECT_API_URL is not set" in pending.read_text()


def test_unreachable_store_is_one_line_and_exit_6(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_KILLSWITCH_URL", "redis://127.0.0.1:1/0")
    code, _, err = _run("kill", MODEL, "--reason", "x", "--as", OPERATOR)
    assert code == 6
    assert "is Redis reachable?" in err
    assert "Traceback" not in err


def test_kill_and_status_on_redis(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, redis_prefix: str
) -> None:
    monkeypatch.setenv("STEWARD_KILLSWITCH_URL", f"{redis_url}?prefix={redis_prefix}")
    assert _run("kill", MODEL, "--reason", "on redis", "--as", OPERATOR)[0] == 0
    code, out, _ = _run("status", MODEL, "--json")
    assert code == 0
    [row] = json.loads(out)
    assert (row["model"], row["active"], row["reason"]) == (MODEL, False, "on redis")


def test_switch_only_enable_needs_the_signers_own_key_when_the_policy_requires_it(
    steward_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelsteward.approvals import create_approver_key, public_key_text
    from tests._onboarding import policy_copy

    key = create_approver_key(tmp_path / "ciso.pem")
    create_approver_key(tmp_path / "stranger.pem")
    policy = policy_copy(tmp_path, approval_signers={DELEGATE: public_key_text(key.public_key())})
    monkeypatch.setenv("STEWARD_POLICY_DIR", str(policy.parent))
    _run("kill", MODEL, "--reason", "x", "--as", OPERATOR)
    for extra, why in (
        ([], "requires signed approvals"),
        (["--key", str(tmp_path / "stranger.pem")], "is not ciso@example.com's approval key"),
    ):
        for mode in (["--switch-only"], []):  # the direct path, and the reenable-model run
            result = CliRunner().invoke(cli, ["enable", MODEL, "--as", DELEGATE, *mode, *extra])
            assert result.exit_code != 0
            assert why in result.stderr  # refused at once, not after the approval timeout
            assert _state(steward_home).active is False
    code, out, _ = _run(
        "enable", MODEL, "--as", DELEGATE, "--switch-only", "--key", str(tmp_path / "ciso.pem")
    )
    assert code == 0, out
    assert _state(steward_home).active is True
    from modelsteward.approvals import check_enable

    with Ledger.from_settings(load_settings()) as ledger:
        enabled = list(ledger.records(action="model.enabled"))[-1]
    assert enabled.details["signed"] is True  # re-checkable from the ledger alone
    text = public_key_text(key.public_key())
    assert check_enable(text, enabled.details, model=MODEL, actor=DELEGATE)
    forged = {**enabled.details, "reason": "something else"}
    assert not check_enable(text, forged, model=MODEL, actor=DELEGATE)
