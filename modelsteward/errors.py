"""Every error Model Steward raises on purpose.

One base class, so a caller can catch everything of ours and nothing else. Each leaf also
inherits the builtin it resembles, so generic handlers keep working::

    StewardError
    ├── ConfigError (ValueError)            a STEWARD_* variable or setting is wrong
    ├── PolicyError (ValueError)            a policy file is missing, malformed or contradictory
    ├── DataError (ValueError)              a data batch does not fit the policy's data contract
    ├── AuditRecordError (ValueError)       an audit record is refused before anything is written
    ├── NotFoundError (LookupError)         an unknown model, version, run or record
    ├── IntegrityError                      something recorded is not what it claims to be
    │   ├── SignatureError                  an artifact or checkpoint signature does not verify
    │   ├── LedgerIntegrityError            the audit chain is broken (names the first bad seq)
    │   └── UnsafeArtifactError             a scanner found dangerous code in an artifact
    ├── AuthError (PermissionError)
    │   ├── AuthenticationError             no, unknown or badly signed credentials (HTTP 401)
    │   └── AuthorizationError              known caller, role not allowed (HTTP 403)
    ├── ExternalServiceError (ConnectionError)  MLflow, S3, Slack, PagerDuty, Redis, Prefect failed
    │   └── StorageError                    the object store refused or lost something
    └── ModelDisabledError (RuntimeError)   the kill switch says this model may not serve

Integrity failures are never plain ``ValueError``: retrying cannot fix them, and a caller that
catches ``ValueError`` to retry must not swallow them. The CLI maps each class to an exit code
(:data:`EXIT_CODES`) and prints one line, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "EXIT_CODES",
    "AuditRecordError",
    "AuthError",
    "AuthenticationError",
    "AuthorizationError",
    "ConfigError",
    "DataError",
    "ExternalServiceError",
    "IntegrityError",
    "LedgerIntegrityError",
    "ModelDisabledError",
    "NotFoundError",
    "PolicyError",
    "SignatureError",
    "StewardError",
    "StorageError",
    "UnsafeArtifactError",
    "exit_code_for",
]


class StewardError(Exception):
    """Base class of every error Model Steward raises on purpose."""


class ConfigError(StewardError, ValueError):
    """A configuration variable is malformed; the message names the variable."""


class PolicyError(StewardError, ValueError):
    """A policy file is missing, malformed or contradictory.

    ``path`` and ``field`` locate the problem; the message says what was found and what was
    expected.
    """

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        super().__init__(message)
        self.path = path
        self.field = field


class DataError(StewardError, ValueError):
    """A data batch cannot be evaluated (empty, wrong columns, wrong types, too small)."""


class AuditRecordError(StewardError, ValueError):
    """An audit record failed validation (unknown action or role, bad field); nothing was
    written. The message names the field."""


class NotFoundError(StewardError, LookupError):
    """An unknown model, version, flow run or record."""


class IntegrityError(StewardError):
    """Something recorded is not what it claims to be. Never retried."""


class SignatureError(IntegrityError):
    """A signature does not verify against the data or the key it claims."""


class LedgerIntegrityError(IntegrityError):
    """The audit ledger is broken. ``seq`` is the first bad record, ``reason`` says how."""

    def __init__(self, message: str, *, seq: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.seq = seq
        self.reason = reason


class UnsafeArtifactError(IntegrityError):
    """A model artifact contains code that would run when it is loaded."""


class AuthError(StewardError, PermissionError):
    """Base of authentication and authorization failures."""


class AuthenticationError(AuthError):
    """Missing, unknown or badly signed credentials (HTTP 401)."""


class AuthorizationError(AuthError):
    """The caller is known but its role may not do this (HTTP 403)."""


class ExternalServiceError(StewardError, ConnectionError):
    """An outside service (MLflow, S3, Slack, PagerDuty, Redis, Prefect) failed or refused."""


class StorageError(ExternalServiceError):
    """The object store refused, lost or misconfigured something."""


class ModelDisabledError(StewardError, RuntimeError):
    """The kill switch says this model may not serve."""

    def __init__(self, model: str, reason: str | None = None, *, revision: int | None = None):
        detail = f": {reason}" if reason else ""
        super().__init__(f"model {model!r} is disabled{detail}")
        self.model = model
        self.reason = reason
        self.revision = revision


#: Exit code of the ``steward`` CLI for each error class (most specific class wins).
#: 1 is any other StewardError, 2 is a usage error (click's own).
EXIT_CODES: dict[type[StewardError], int] = {
    ConfigError: 3,
    PolicyError: 3,
    IntegrityError: 4,
    LedgerIntegrityError: 4,
    SignatureError: 4,
    UnsafeArtifactError: 4,
    AuthError: 5,
    AuthenticationError: 5,
    AuthorizationError: 5,
    ExternalServiceError: 6,
    StorageError: 6,
    NotFoundError: 7,
    ModelDisabledError: 8,
    DataError: 9,
    AuditRecordError: 9,
}


def exit_code_for(error: BaseException) -> int:
    """The CLI exit code for ``error``: the entry of its nearest class in :data:`EXIT_CODES`."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
