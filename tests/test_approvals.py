"""Signed approvals: the signature binds approver, decision and flow run; the policy lists keys."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from modelsteward.approvals import (
    check_approval,
    create_approver_key,
    load_approver_key,
    public_key_text,
    sign_approval,
)
from modelsteward.errors import PolicyError, SignatureError
from modelsteward.policy import parse_policy

POLICY = Path(__file__).resolve().parents[1] / "policies" / "fraud-detector.yaml"
GUARDIAN = "ai-security@example.com"


@pytest.fixture
def key(tmp_path: Path):  # type: ignore[no-untyped-def]
    return create_approver_key(tmp_path / "approver.pem")


def _decision(**overrides):  # type: ignore[no-untyped-def]
    return {
        "approve": True,
        "approver": GUARDIAN,
        "risk_assessment": "low residual risk",
        "comment": "",
        **overrides,
    }


def _check(key_text: str | None, signature: str, run_id: str, *, required: bool = True, **decision):  # type: ignore[no-untyped-def]
    values = _decision(**decision)
    return check_approval(
        keys={GUARDIAN: key_text} if key_text else {},
        require_signature=required,
        flow_run_id=run_id,
        signature=signature,
        **values,
    )


def test_a_signed_decision_verifies_only_for_its_run_and_its_content(key) -> None:  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    text = public_key_text(key.public_key())
    signature = sign_approval(key, flow_run_id=run_id, decision=_decision())
    good = _check(text, signature, run_id)
    assert good.accepted and good.signed and good.key_id and len(good.key_id) == 16
    assert good.details() == {"signed": True, "approver_key_id": good.key_id}
    # the approver's e-mail is compared case-insensitively, as the policy does
    assert _check(text, signature, run_id, approver=GUARDIAN.upper()).accepted
    replayed = _check(text, signature, str(uuid.uuid4()))
    assert not replayed.accepted and "does not verify" in replayed.reason
    assert not _check(text, signature, run_id, approve=False).accepted
    assert not _check(text, signature, run_id, risk_assessment="none").accepted
    assert not _check(text, "bm90IGJhc2U2NA==", run_id).accepted
    assert not _check(text, "not base64 at all!", run_id).accepted


def test_unsigned_decisions_pass_only_when_the_policy_allows_them(key) -> None:  # type: ignore[no-untyped-def]
    text = public_key_text(key.public_key())
    allowed = _check(text, "", "r", required=False)
    assert allowed.accepted and not allowed.signed and allowed.details() == {"signed": False}
    refused = _check(text, "", "r")
    assert not refused.accepted and "requires signed approvals" in refused.reason


def test_a_signature_from_an_approver_without_a_listed_key_is_refused(key) -> None:  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    signature = sign_approval(key, flow_run_id=run_id, decision=_decision())
    verdict = _check(None, signature, run_id, required=False)
    assert not verdict.accepted and "lists no approval key" in verdict.reason


def test_approver_keys_are_never_overwritten_and_must_be_ed25519(tmp_path: Path, key) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "approver.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_key_text(load_approver_key(path).public_key()) == public_key_text(
        key.public_key()
    )
    with pytest.raises(SignatureError, match="never overwritten"):
        create_approver_key(path)
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SignatureError, match="cannot load the approver key"):
        load_approver_key(broken)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = tmp_path / "p256.pem"
    p256.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SignatureError, match="expected Ed25519"):
        load_approver_key(p256)


def _policy(approval: dict) -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(POLICY.read_text())
    data["approval"] = approval
    return data


def test_policy_approval_signers_are_checked(key) -> None:  # type: ignore[no-untyped-def]
    text = public_key_text(key.public_key())
    policy = parse_policy(
        _policy({"require_signature": True, "signers": {"AI-Security@Example.com": text}})
    )
    assert policy.approval.signers == {GUARDIAN: text}
    with pytest.raises(PolicyError, match="nobody could approve"):
        parse_policy(_policy({"require_signature": True}))
    with pytest.raises(PolicyError, match="neither the Guardian nor a delegate"):
        parse_policy(_policy({"signers": {"dana.whitfield@example.com": text}}))
    with pytest.raises(PolicyError, match=r"approval\.signers .*expected the 32 of an Ed25519 key"):
        parse_policy(_policy({"signers": {GUARDIAN: "c2hvcnQ="}}))
    with pytest.raises(PolicyError, match="expected base64"):
        parse_policy(_policy({"signers": {GUARDIAN: "***"}}))


def test_approver_key_create_prints_the_policy_line(tmp_path: Path) -> None:
    from modelsteward.cli import cli

    out = tmp_path / "keys" / "gina.pem"
    result = CliRunner().invoke(
        cli, ["approver-key", "create", "--as", "AI-Security@example.com", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    line = result.stdout.strip().splitlines()[-1]
    email, text = (part.strip() for part in line.split(":", 1))
    assert email == GUARDIAN
    assert text == public_key_text(load_approver_key(out).public_key())
    again = CliRunner().invoke(cli, ["approver-key", "create", "--as", GUARDIAN, "--out", str(out)])
    assert again.exit_code != 0 and "never overwritten" in again.output


def test_a_signature_for_the_prefect_ui_form_is_printed_on_request(tmp_path: Path) -> None:
    from modelsteward.cli import cli

    key = create_approver_key(tmp_path / "approver.pem")
    run_id = str(uuid.uuid4())
    args = ["approve", run_id, "--as", GUARDIAN, "--risk-assessment", "low residual risk"]
    result = CliRunner().invoke(
        cli, [*args, "--key", str(tmp_path / "approver.pem"), "--signature-only"]
    )
    assert result.exit_code == 0, result.output
    signature = result.stdout.strip()
    verdict = _check(public_key_text(key.public_key()), signature, run_id)
    assert verdict.accepted and verdict.signed
    unsigned = CliRunner().invoke(cli, [*args, "--signature-only"])
    assert unsigned.exit_code != 0 and "needs --key" in unsigned.output


def test_commands_answering_their_own_pause_refuse_a_wrong_or_missing_key_at_once(
    key,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from modelsteward.approvals import require_signer_key
    from modelsteward.errors import AuthorizationError

    text = public_key_text(key.public_key())
    optional = parse_policy(_policy({"signers": {GUARDIAN: text}}))
    required = parse_policy(_policy({"require_signature": True, "signers": {GUARDIAN: text}}))
    other = create_approver_key(tmp_path / "other.pem")
    require_signer_key(optional, GUARDIAN, None)  # unsigned, and the policy allows it
    require_signer_key(required, GUARDIAN.upper(), key)
    with pytest.raises(AuthorizationError, match="requires signed approvals"):
        require_signer_key(required, GUARDIAN, None)
    with pytest.raises(AuthorizationError, match=r"is not ai-security@example\.com's approval key"):
        require_signer_key(optional, GUARDIAN, other)
    with pytest.raises(AuthorizationError, match=r"lists no approval key for ciso@example\.com"):
        require_signer_key(optional, "ciso@example.com", key)


def test_small_order_points_and_duplicate_signers_are_refused(key) -> None:  # type: ignore[no-untyped-def]
    import base64

    identity = base64.b64encode(b"\x01" + bytes(31)).decode()
    order_eight = base64.b64encode(
        bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
    ).decode()
    for weak in (identity, order_eight):
        with pytest.raises(PolicyError, match="small order"):
            parse_policy(_policy({"signers": {GUARDIAN: weak}}))
    # with the identity point, R = identity and S = 0 would verify for any message
    forged = base64.b64encode(b"\x01" + bytes(63)).decode()
    run_id = str(uuid.uuid4())
    assert not _check(identity, forged, run_id).accepted
    text = public_key_text(key.public_key())
    with pytest.raises(PolicyError, match="listed twice"):
        parse_policy(_policy({"signers": {GUARDIAN: text, GUARDIAN.upper(): text}}))


def test_a_malformed_decision_is_one_clear_line() -> None:
    from modelsteward.cli import cli

    result = CliRunner().invoke(cli, ["approve", str(uuid.uuid4()), "--as", "ab"])
    assert result.exit_code == 2 and "approver" in result.output
    assert "Traceback" not in result.output
