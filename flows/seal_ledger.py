"""seal-ledger: seal the audit ledger's closed segments into S3 Object Lock, then verify.

Scheduled (``prefect.yaml``, hourly) so sealing keeps up by itself: a segment closes after
``STEWARD_AUDIT_SEGMENT_MAX_RECORDS`` records or ``STEWARD_AUDIT_SEGMENT_MAX_AGE_SECONDS``.
When S3 is down the seal task retries; if it still fails, nothing is lost: the next run seals
what is pending. Appends never wait for this flow.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from modelsteward.settings import load_settings
from tasks.ledger import seal_ledger as seal_task
from tasks.ledger import verify_sealed_ledger


class SealRequest(BaseModel):
    """How to seal."""

    force: bool = Field(
        default=False, description="Also seal the open segment, however young or small."
    )
    verify: bool = Field(
        default=True, description="Verify the ledger against the sealed copies afterwards."
    )


@flow(name="seal-ledger", log_prints=False)
def seal_ledger(request: SealRequest | None = None) -> dict[str, Any]:
    """Seal closed ledger segments with signed checkpoints; verify the result."""
    request = request or SealRequest()
    logger = get_run_logger()
    settings = load_settings()
    sealed = seal_task(settings, request.force)
    result: dict[str, Any] = {"sealed": sealed}
    if request.verify:
        result["verified"] = verify_sealed_ledger(settings)
    rows = "\n".join(
        f"| {s['first_seq']}..{s['last_seq']} | `{s['segment']}` | `{s['version_id']}` |"
        for s in sealed["sealed"]
    )
    create_markdown_artifact(
        key="seal-ledger",
        markdown=(
            f"Sealed through seq **{sealed['sealed_through']}**; "
            f"{sealed['pending_records']} record(s) in the open segment.\n\n"
            "| records | segment | version |\n|---|---|---|\n" + (rows or "| - | - | - |")
        ),
        description="Audit ledger segments sealed under Object Lock",
    )
    logger.info(
        "event=ledger_sealed segments=%d sealed_through=%d",
        len(sealed["sealed"]),
        sealed["sealed_through"],
    )
    return result
