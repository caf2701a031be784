"""Signed approvals: proof of *who* approved, not just the e-mail they typed.

A paused ``onboard-model`` or ``reenable-model`` run takes the Guardian's decision as Prefect
run input. Anyone who can reach the Prefect UI or API can type the Guardian's e-mail there; a
signature cannot be typed. Each approver keeps an Ed25519 private key
(``steward approver-key create``); the policy lists the public keys under ``approval.signers``
(policy as code: a key is added in a reviewed change, like any other rule). ``steward approve
--key`` signs the decision, bound to the flow run it answers, and the flow checks the signature
before it records ``approval.granted``. With ``approval.require_signature: true`` an unsigned
decision (the UI form without a signature) is refused and audited like a wrong approver.

The signed message is the canonical JSON (sorted keys, compact, UTF-8) of::

    {"kind": "modelsteward.approval/v1", "flow_run_id": "<uuid>", "approve": true,
     "approver": "<e-mail, lower case>", "risk_assessment": "...", "comment": "..."}

so a signature cannot be replayed on another run or turned from a rejection into an approval.
The private key never leaves the approver's machine; the signature, which is public, is kept in
the run input and the ledger.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelsteward.errors import SignatureError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "APPROVAL_KIND",
    "Verdict",
    "approval_message",
    "check_approval",
    "check_enable",
    "create_approver_key",
    "key_id",
    "load_approver_key",
    "parse_public_key",
    "public_key_text",
    "require_signer_key",
    "sign_approval",
    "sign_enable",
]

APPROVAL_KIND = "modelsteward.approval/v1"


def approval_message(
    *, flow_run_id: str, approve: bool, approver: str, risk_assessment: str, comment: str
) -> bytes:
    """The exact bytes an approver signs (see the module docstring)."""
    return orjson.dumps(
        {
            "kind": APPROVAL_KIND,
            "flow_run_id": str(flow_run_id).lower(),
            "approve": bool(approve),
            "approver": approver.strip().lower(),
            "risk_assessment": risk_assessment,
            "comment": comment,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """The form the policy lists: base64 of the 32 raw bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(text: str) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key (as in the ledger's keys)."""
    return hashlib.sha256(base64.b64decode(text)).hexdigest()[:16]


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from base64 of its 32 raw bytes; ValueError naming what is wrong.

    Points of small order are refused: with such a "key" (the identity point, say, which
    looks like any other base64 string) a trivial signature verifies for every message.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = raw_public_key(text)
    if _small_order(raw):
        raise ValueError(
            "is a point of small order, not a real public key (any signature would verify)"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def raw_public_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as err:
        raise ValueError(f"got {text[:20]!r}..., expected base64 (steward approver-key)") from err
    if len(raw) != 32:
        raise ValueError(f"decodes to {len(raw)} bytes, expected the 32 of an Ed25519 key")
    return raw


_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _small_order(raw: bytes) -> bool:
    """Whether the encoded point is not on the curve, not canonical, or [8]P is the identity."""
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        return True  # not canonical
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = (u * pow(v, _P - 2, _P)) % _P  # x^2
    root = pow(x, (_P + 3) // 8, _P)
    if (root * root - x) % _P:
        root = root * _SQRT_M1 % _P
    if (root * root - x) % _P or (root == 0 and sign):
        return True  # not on the curve
    if (root & 1) != sign:
        root = _P - root
    point = (root, y)
    for _ in range(3):  # [8]P by three doublings (twisted Edwards, a = -1, complete)
        px, py = point
        t = _D * px * px * py * py % _P
        point = (
            2 * px * py * pow(1 + t, _P - 2, _P) % _P,
            (py * py + px * px) * pow(1 - t, _P - 2, _P) % _P,
        )
    return point == (0, 1)


def create_approver_key(path: Path) -> Ed25519PrivateKey:
    """A new approver key written to ``path`` (mode 0600); refuses to overwrite one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise SignatureError(
            f"{path} already exists; an approver key is never overwritten (choose another path)"
        ) from err
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_approver_key(path: Path) -> Ed25519PrivateKey:
    from modelsteward.audit.seal import load_ed25519_key

    return load_ed25519_key(path, name="approver key", hint="steward approver-key create")


def sign_approval(key: Ed25519PrivateKey, *, flow_run_id: str, decision: dict[str, Any]) -> str:
    """The base64 signature of ``decision`` (an ApprovalInput's fields) for ``flow_run_id``."""
    message = approval_message(
        flow_run_id=flow_run_id,
        approve=decision["approve"],
        approver=decision["approver"],
        risk_assessment=decision.get("risk_assessment", ""),
        comment=decision.get("comment", ""),
    )
    return base64.b64encode(key.sign(message)).decode()


def require_signer_key(policy: Any, approver: str, key: Ed25519PrivateKey | None) -> None:
    """Refuse at once what the flow would refuse (and then wait for a better decision).

    Used by the commands that answer their own approval pause (``steward enable``,
    ``steward onboard --approve-as``): an unsigned decision under
    ``approval.require_signature``, or a key that is not the approver's key in the policy.
    """
    from modelsteward.errors import AuthorizationError

    who = approver.strip().lower()
    listed = policy.approval.signers.get(who)
    if key is None:
        if policy.approval.require_signature:
            raise AuthorizationError(
                f"the policy of {policy.model} requires signed approvals: pass --key with "
                f"{who}'s approver key (listed under approval.signers), or set "
                "STEWARD_APPROVER_KEY"
            )
        return
    text = public_key_text(key.public_key())
    if listed is None:
        raise AuthorizationError(
            f"the policy of {policy.model} lists no approval key for {who} (approval.signers): "
            f"add key {key_id(text)} in a reviewed policy change, or answer without --key"
        )
    if raw_public_key(listed) != raw_public_key(text):
        raise AuthorizationError(
            f"this key ({key_id(text)}) is not {who}'s approval key in the policy of "
            f"{policy.model} ({key_id(listed)})"
        )


ENABLE_KIND = "modelsteward.switch-enable/v1"


def _enable_message(*, model: str, version: str | None, actor: str, reason: str, at: str) -> bytes:
    return orjson.dumps(
        {
            "kind": ENABLE_KIND,
            "model": model,
            "version": version,
            "actor": actor.strip().lower(),
            "reason": reason,
            "signed_at": at,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def sign_enable(
    key: Ed25519PrivateKey, *, model: str, version: str | None, actor: str, reason: str
) -> dict[str, Any]:
    """Ledger details for a direct (switch-only) re-enable, signed by the Guardian's key."""
    from datetime import UTC, datetime

    at = datetime.now(UTC).isoformat(timespec="seconds")
    message = _enable_message(model=model, version=version, actor=actor, reason=reason, at=at)
    return {
        "signed": True,
        "approver_key_id": key_id(public_key_text(key.public_key())),
        "signed_at": at,
        "signed_version": version,
        "signature": base64.b64encode(key.sign(message)).decode(),
    }


def check_enable(key_text: str, details: dict[str, Any], *, model: str, actor: str) -> bool:
    """Whether a ``model.enabled`` record's signature verifies with ``key_text``."""
    from cryptography.exceptions import InvalidSignature

    try:
        message = _enable_message(
            model=model,
            version=details["signed_version"],
            actor=actor,
            reason=str(details["reason"]),
            at=str(details["signed_at"]),
        )
        parse_public_key(key_text).verify(base64.b64decode(details["signature"]), message)
    except (KeyError, ValueError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True)
class Verdict:
    """Whether a decision may stand, and what the ledger says of its signature."""

    accepted: bool
    signed: bool
    reason: str = ""
    key_id: str | None = None

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"signed": self.signed}
        if self.key_id:
            out["approver_key_id"] = self.key_id
        return out


def check_approval(
    *,
    keys: dict[str, str],
    require_signature: bool,
    flow_run_id: str,
    approve: bool,
    approver: str,
    risk_assessment: str,
    comment: str,
    signature: str,
) -> Verdict:
    """Check a decision's signature against the approver's key listed in the policy.

    ``keys`` maps lower-case e-mails to public keys (base64). A signature that does not
    verify, or one from an approver without a listed key, is refused; an unsigned decision is
    refused only when ``require_signature``.
    """
    from cryptography.exceptions import InvalidSignature

    who = approver.strip().lower()
    text = keys.get(who)
    signature = signature.strip()  # pasted into a form with a newline, say
    if not signature:
        if require_signature:
            return Verdict(
                False,
                False,
                "the policy requires signed approvals (approval.require_signature): answer with "
                "`steward approve RUN_ID --as EMAIL --key PATH`",
            )
        return Verdict(True, False)
    if text is None:
        return Verdict(
            False,
            True,
            f"the decision is signed, but the policy lists no approval key for {who} "
            "(approval.signers)",
        )
    message = approval_message(
        flow_run_id=flow_run_id,
        approve=approve,
        approver=who,
        risk_assessment=risk_assessment,
        comment=comment,
    )
    try:
        parse_public_key(text).verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return Verdict(
            False,
            True,
            f"the signature does not verify with {who}'s key {key_id(text)} for this run and "
            "decision",
            key_id(text),
        )
    return Verdict(True, True, key_id=key_id(text))
