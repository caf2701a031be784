"""Model Steward: an AI-governance control plane for production models.

For every model it answers four questions and can prove each answer later. *Who is
accountable?* A policy file (:mod:`modelsteward.policy`) names the Owner, Guardian and Operator,
mirrored into the MLflow registry. *May it serve?* Only a signed artifact stored under S3 Object
Lock (:mod:`modelsteward.objectstore`) that a Guardian approved is promoted, and a kill switch,
checked before every prediction by :class:`Guard`, can stop it within a second. *Does it still
behave?* Scheduled Prefect flows (``flows/``, built from the thin tasks in ``tasks/``) check data
quality, drift and performance and route alerts by role. *Who decided?* Every governance action
lands in a hash-chained audit ledger sealed into Object Lock.

This package is the functional core: domain logic and adapters to outside systems. The parts
that run inside serving apps and the HTTP service never import Prefect, MLflow or pandas.
"""

from modelsteward.errors import (
    AuthenticationError,
    AuthError,
    AuthorizationError,
    ConfigError,
    DataError,
    ExternalServiceError,
    IntegrityError,
    LedgerIntegrityError,
    ModelDisabledError,
    NotFoundError,
    PolicyError,
    SignatureError,
    StewardError,
    StorageError,
    UnsafeArtifactError,
)
from modelsteward.guard import Guard

__all__ = [
    "AuthError",
    "AuthenticationError",
    "AuthorizationError",
    "ConfigError",
    "DataError",
    "ExternalServiceError",
    "Guard",
    "IntegrityError",
    "LedgerIntegrityError",
    "ModelDisabledError",
    "NotFoundError",
    "PolicyError",
    "SignatureError",
    "StewardError",
    "StorageError",
    "UnsafeArtifactError",
]
