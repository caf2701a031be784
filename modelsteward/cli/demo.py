"""``steward demo``: the whole governance lifecycle on embedded defaults, stage by stage.

Two sample models (a synthetic card-fraud model and a tumour classifier on the breast-cancer
data scikit-learn ships) go through what production models go through: onboarding with a
Guardian's approval, monitoring on a clean, a drifted and a severely drifted batch, an
automatic kill that a serving loop feels through the guard, a signed PagerDuty webhook that
kills the second model through ``steward serve``, ledger sealing and verification, and the
compliance report. Every stage does real work against the embedded stack and returns one line
for the summary. The demo starts from a clean ``$STEWARD_HOME/demo`` (or ``--home``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from modelsteward.guard import Guard
    from modelsteward.settings import StewardSettings

FRAUD = "fraud-detector"
TUMOR = "tumor-classifier"
# a throw-away secret for a loopback demo
_WEBHOOK_SECRET = "demo-webhook-secret"  # nosec B105


@dataclass
class DemoContext:
    settings: StewardSettings
    facts: dict[str, Any] = field(default_factory=dict)
    guard: Guard | None = None


Stage = Callable[[DemoContext], str]


def _policy_path(ctx: DemoContext, model: str) -> Path:
    return ctx.settings.policy_dir / f"{model}.yaml"


def _stage_policies(ctx: DemoContext) -> str:
    from modelsteward.policy import load_policy_dir

    policies = load_policy_dir(ctx.settings.policy_dir)
    missing = {FRAUD, TUMOR} - set(policies)
    if missing:
        raise click.ClickException(
            f"the demo needs the sample policies {sorted(missing)} in {ctx.settings.policy_dir} "
            "(run it from the repository root, or set STEWARD_POLICY_DIR)"
        )
    ctx.facts["policies"] = policies
    names = ", ".join(
        f"{p.model} ({p.risk_tier} risk, owner {p.roles.owner.email})" for p in policies.values()
    )
    return f"{len(policies)} policies valid: {names}"


def _stage_train(ctx: DemoContext) -> str:
    from modelsteward.samples import log_sample_model, log_tumor_model

    ctx.facts["uris"] = {
        FRAUD: log_sample_model(ctx.settings, rows=2000),
        TUMOR: log_tumor_model(ctx.settings),
    }
    return (
        "trained a fraud classifier (synthetic transactions) and a tumour classifier "
        "(scikit-learn's breast-cancer data); logged both to MLflow"
    )


def _onboard(ctx: DemoContext, model: str) -> Any:
    from flows.onboard_model import ApprovalInput, OnboardRequest, run_onboarding

    policy = ctx.facts["policies"][model]
    decision = ApprovalInput(
        approve=True,
        approver=policy.roles.guardian.email,
        risk_assessment=f"{policy.risk_tier} risk; bias and robustness review passed; "
        "monitoring thresholds agreed with the Owner",
        comment="approved in the steward demo",
    )
    result = run_onboarding(
        OnboardRequest(
            policy_path=str(_policy_path(ctx, model)),
            model_uri=ctx.facts["uris"][model],
            requested_by="demo",
            approval_poll_seconds=0.5,
        ),
        decisions=[decision],
        key=ctx.facts["approver_keys"].get(policy.roles.guardian.email.lower()),
    )
    if result.status != "promoted":
        raise click.ClickException(f"onboarding {model} ended {result.status}: {result.reason}")
    ctx.facts.setdefault("versions", {})[model] = result.version
    return result


def _approval_signature(ctx: DemoContext, model: str) -> str:
    """How the ledger says the model's approval was given."""
    from modelsteward.audit import Ledger

    with Ledger.from_settings(ctx.settings) as ledger:
        granted = list(ledger.records(model=model, action="approval.granted"))
    details = granted[-1].details if granted else {}
    if details.get("signed"):
        return f"signed with key {details.get('approver_key_id')}"
    return "unsigned"


def _stage_onboard(ctx: DemoContext) -> str:
    lines = []
    for model in (FRAUD, TUMOR):
        result = _onboard(ctx, model)
        f1 = result.baseline.get("f1")
        lines.append(
            f"{model} v{result.version} promoted (approved by {result.approver}, "
            f"{_approval_signature(ctx, model)}; baseline F1 {f1:.3f}; "
            f"{len(result.stored)} Object Lock ids)"
        )
    return "scanned, signed, locked, approved, promoted: " + "; ".join(lines)


def _start_serving_loop(ctx: DemoContext) -> str:
    from modelsteward.errors import ModelDisabledError
    from modelsteward.guard import Guard

    guard = Guard.from_env()
    ctx.guard = guard
    served = {FRAUD: 0, TUMOR: 0}
    refused: dict[str, float] = {}
    stop = threading.Event()

    def serve() -> None:  # a serving app: one guard check before every prediction
        while not stop.is_set():
            for model in (FRAUD, TUMOR):
                if model in refused:
                    continue
                try:
                    guard.check(model)
                    served[model] += 1
                except ModelDisabledError:
                    refused[model] = time.time()
            time.sleep(0.0005)

    thread = threading.Thread(target=serve, name="demo-serving-loop", daemon=True)
    thread.start()
    ctx.facts.update(served=served, refused=refused, stop_serving=stop, serving_thread=thread)
    if not (guard.is_active(FRAUD) and guard.is_active(TUMOR)):
        raise click.ClickException("the guard refuses a model that was just promoted")
    return (
        "a serving loop checks the guard before every prediction "
        f"(revision {guard.applied_revision})"
    )


def _evaluate(ctx: DemoContext, label: str, frame: Any) -> Any:
    from flows.evaluate_model import EvaluateRequest, evaluate_model

    path = ctx.settings.home / "batches" / f"{FRAUD}-{label}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return evaluate_model(EvaluateRequest(model=FRAUD, current_path=str(path)))


def _batch(ctx: DemoContext, shift: str, seed: int) -> Any:
    import mlflow.pyfunc

    from modelsteward.samples import FEATURES, PREDICTION, fraud_frame

    frame = fraud_frame(4000, seed=seed, shift=shift)  # type: ignore[arg-type]
    if "model" not in ctx.facts:
        ctx.facts["model"] = mlflow.pyfunc.load_model(ctx.facts["uris"][FRAUD])
    frame[PREDICTION] = ctx.facts["model"].predict(frame[list(FEATURES)])
    return frame


def _outbox_count(ctx: DemoContext) -> int:
    path = ctx.settings.outbox_dir / "alerts.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _describe(outcome: Any) -> str:
    result = outcome.result
    drift = result.drift
    text = f"severity {result.severity.value}"
    if drift.evaluated and drift.drift_share is not None:
        text += f", {drift.drifted_columns}/{drift.evaluated_columns} columns drifted"
    else:
        text += f", drift not evaluated ({drift.reason})"
    decay = [c for c in result.performance.metrics if c.severity.value != "none"]
    if decay:
        text += ", performance decayed (" + ", ".join(c.metric for c in decay) + ")"
    return text


def _stage_clean(ctx: DemoContext) -> str:
    before = _outbox_count(ctx)
    result = _evaluate(ctx, "clean", _batch(ctx, "none", seed=101))
    sent = _outbox_count(ctx) - before
    return f"clean batch: {_describe(result)}; {sent} alert deliveries"


def _stage_drift(ctx: DemoContext) -> str:
    before = _outbox_count(ctx)
    result = _evaluate(ctx, "drifted", _batch(ctx, "mild", seed=202))
    sent = _outbox_count(ctx) - before
    if result.result.severity.value != "warning" or FRAUD in ctx.facts["refused"]:
        raise click.ClickException(
            f"a mildly drifted batch should warn and keep {FRAUD} serving; got {_describe(result)}"
        )
    return (
        f"drifted batch: {_describe(result)}; {sent} alert deliveries in the outbox, "
        "the model keeps serving"
    )


def _stage_severe(ctx: DemoContext) -> str:
    from modelsteward.killswitch import open_store

    result = _evaluate(ctx, "severe", _batch(ctx, "severe", seed=303))
    state = open_store(ctx.settings.killswitch).get_state(FRAUD)
    if state is None or state.active:
        raise click.ClickException(f"a critical evaluation did not kill {FRAUD}")
    deadline = time.time() + 5
    while FRAUD not in ctx.facts["refused"] and time.time() < deadline:
        time.sleep(0.001)
    refused_at = ctx.facts["refused"].get(FRAUD)
    if refused_at is None:
        raise click.ClickException("the serving loop still serves a killed model")
    kill_ms = (refused_at - state.changed_at.timestamp()) * 1000
    ctx.facts["kill_ms"] = kill_ms
    return (
        f"severe batch: {_describe(result)}; automatic kill by {state.actor}; the serving loop "
        f"refused {FRAUD} {kill_ms:.0f} ms after the switch flipped "
        f"(after {ctx.facts['served'][FRAUD]} guarded predictions)"
    )


def _pagerduty_incident(service_id: str) -> bytes:
    incident = "Q" + uuid.uuid4().hex[:13].upper()
    event = {
        "event": {
            "id": str(uuid.uuid4()),
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "occurred_at": datetime.now(UTC).isoformat(),
            "agent": {"id": "PDEMO01", "summary": "On-call pathologist", "type": "user_reference"},
            "client": {"name": "PagerDuty"},
            "data": {
                "id": incident,
                "type": "incident",
                "number": 42,
                "status": "triggered",
                "title": "tumor-classifier: clinicians report implausible benign calls",
                "incident_key": None,
                "urgency": "high",
                "service": {
                    "id": service_id,
                    "summary": "Pathology AI",
                    "type": "service_reference",
                },
            },
        }
    }
    return json.dumps(event, separators=(",", ":")).encode()


def _stage_webhook(ctx: DemoContext) -> str:
    import httpx

    from modelsteward.embedded import free_port
    from modelsteward.service.webhooks import sign

    port = free_port()
    env = {**os.environ, "STEWARD_PAGERDUTY_WEBHOOK_SECRETS": _WEBHOOK_SECRET}
    log = open(ctx.settings.home / "serve.log", "ab")  # noqa: SIM115
    server = subprocess.Popen(  # nosec B603
        [
            sys.executable,
            "-m",
            "modelsteward.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException(f"steward serve did not start; see {log.name}")
            time.sleep(0.1)
        policy = ctx.facts["policies"][TUMOR]
        service_id = policy.roles.operator.pagerduty.service_id
        body = _pagerduty_incident(service_id)
        unsigned = httpx.post(f"{base}/webhooks/pagerduty", content=body, timeout=5)
        sent_at = time.time()
        response = httpx.post(
            f"{base}/webhooks/pagerduty",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-PagerDuty-Signature": sign(body, _WEBHOOK_SECRET),
                "X-Webhook-Id": str(uuid.uuid4()),
            },
            timeout=5,
        )
        answered_ms = (time.time() - sent_at) * 1000
        deadline_wall = time.time() + 5
        while TUMOR not in ctx.facts["refused"] and time.time() < deadline_wall:
            time.sleep(0.0005)
        refused_at = ctx.facts["refused"].get(TUMOR)
        status = httpx.get(f"{base}/models/{TUMOR}/status", timeout=5).json()
    finally:
        server.terminate()
        server.wait(timeout=20)
    if response.status_code != 202 or refused_at is None or status.get("active"):
        raise click.ClickException(
            f"the signed webhook did not kill {TUMOR}: HTTP {response.status_code}, {status}"
        )
    ctx.facts["webhook_ms"] = (refused_at - sent_at) * 1000
    return (
        f"unsigned webhook refused (HTTP {unsigned.status_code}); signed incident on PagerDuty "
        f"service {service_id} answered {response.status_code} in {answered_ms:.0f} ms; the "
        f"serving loop refused {TUMOR} {ctx.facts['webhook_ms']:.0f} ms after it was sent; "
        f"changed by {status.get('changed_by')}"
    )


def _stage_follow_ups(ctx: DemoContext) -> str:
    """What ``steward up`` does by itself: the kill-model runs after each switch flip (the
    event automation for the automatic kill, the webhook's pending follow-up for PagerDuty)."""
    from flows.kill_model import KillParameters, kill_model
    from modelsteward.registry import ModelRegistry

    requests = [
        KillParameters(
            model=FRAUD,
            reason="critical drift (automatic kill by evaluate-model)",
            actor="evaluate-model",
            role="system",
            source="evaluation",
        )
    ]
    pending = ctx.settings.home / "pending" / "kill-model.jsonl"
    if pending.exists():
        for line in pending.read_text().splitlines():
            requests.append(KillParameters(**json.loads(line)["parameters"]["request"]))
        pending.rename(pending.with_suffix(".jsonl.done"))
    registry = ModelRegistry.from_settings(ctx.settings)
    lines = []
    for request in requests:
        result = kill_model(request)
        alias = registry.alias_version(request.model, "champion")
        if alias is not None:
            raise click.ClickException(f"{request.model} still has a champion alias")
        lines.append(
            f"{request.model}: champion alias removed (was v{result.alias_removed_from}), "
            f"version tagged disabled, Owner/Operator/Guardian notified"
        )
    return "; ".join(lines)


def _stage_ledger(ctx: DemoContext) -> str:
    from modelsteward.audit import Ledger
    from modelsteward.objectstore import LockedBucket

    bucket = LockedBucket.from_settings(ctx.settings).ensure()
    with Ledger.from_settings(ctx.settings) as ledger:
        sealed = ledger.seal(bucket, force=True)
        report = ledger.verify(bucket).raise_if_broken()
    return (
        f"{report.records} records hash-chained; sealed through seq {sealed.sealed_through} "
        f"under Object Lock with a signed checkpoint; verified "
        f"({report.checkpoints} checkpoint(s), {report.segments} segment(s))"
    )


def _stage_report(ctx: DemoContext) -> str:
    from modelsteward.reporting import parse_period, report_from_ledger, write_report

    today = datetime.now(UTC).date()
    start, end = parse_period(today, today)
    report = report_from_ledger(ctx.settings, start, end)
    ctx.settings.reports_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        fmt: write_report(report, fmt, ctx.settings.reports_dir / f"compliance-{today}.{fmt}")
        for fmt in ("html", "md", "csv", "json")
    }
    ctx.facts["reports"] = paths
    totals = report.totals
    return (
        f"{totals['model_changes']} model changes, {totals['approvals']} approvals, "
        f"{totals['incidents']} drift incidents, {totals['kills']} kills -> {paths['html']}"
    )


STAGES: list[tuple[str, Stage]] = [
    ("Policy as code", _stage_policies),
    ("Train sample models", _stage_train),
    ("Onboard with Guardian approval", _stage_onboard),
    ("Serving loop behind the guard", _start_serving_loop),
    ("Evaluate a clean batch", _stage_clean),
    ("Evaluate a drifted batch", _stage_drift),
    ("Evaluate a severely drifted batch", _stage_severe),
    ("PagerDuty webhook kill", _stage_webhook),
    ("kill-model follow-ups", _stage_follow_ups),
    ("Audit ledger", _stage_ledger),
    ("Compliance report", _stage_report),
]


def _prepare_home(home: Path) -> None:
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)


def _signed_policies(source: Path, home: Path) -> dict[str, Any]:
    """Copies of the policies in ``home/policies`` that require signed approvals.

    Each Guardian gets an approver key under ``home/keys/approvers`` (in real life it never
    leaves the Guardian's machine) and the copies list its public key under
    ``approval.signers``: the demo's approvals are signed, as a demanding deployment would
    have them. Returns the keys by Guardian e-mail; the repository's files are not touched.
    """
    import yaml

    from modelsteward.approvals import create_approver_key, public_key_text

    target = home / "policies"
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("current"))
    keys: dict[str, Any] = {}
    for path in sorted(target.glob("*.y*ml")):
        text = path.read_text()
        data = yaml.safe_load(text)
        try:
            guardian = str(data["roles"]["guardian"]["email"]).strip().lower()
        except (TypeError, KeyError):
            continue  # not a policy; load_policy_dir names what is wrong with it
        if guardian not in keys:
            keys[guardian] = create_approver_key(home / "keys" / "approvers" / f"{guardian}.pem")
        signed = (
            f"\n  require_signature: true\n  signers:\n"
            f"    {guardian}: {public_key_text(keys[guardian].public_key())}\n"
        )
        if "\napproval:" in text:
            text = text.replace("\napproval:", "\napproval:" + signed.rstrip("\n"), 1)
        else:
            text = text.rstrip("\n") + "\napproval:" + signed
        path.write_text(text)
    return keys


@click.command("demo")
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the demo keeps its state (default: $STEWARD_HOME/demo, wiped at start).",
)
def demo(home: Path | None) -> None:
    """Run the governance lifecycle on embedded defaults and print a summary."""
    from rich.console import Console

    from modelsteward.embedded import runtime
    from modelsteward.settings import load_settings

    console = Console()
    base = load_settings()
    demo_home = (home or base.home / "demo").resolve()
    _prepare_home(demo_home)
    # every flow, task and child process of the demo resolves the same configuration
    os.environ["STEWARD_HOME"] = str(demo_home)
    approver_keys = _signed_policies(base.policy_dir, demo_home)
    os.environ["STEWARD_POLICY_DIR"] = str(demo_home / "policies")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{demo_home / 'mlflow.db'}"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not os.environ.get("PREFECT_API_URL"):
        # Prefect's ephemeral API, kept inside the demo home; a loaded laptop needs patience
        os.environ["PREFECT_HOME"] = str(demo_home / "prefect")
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    started = time.perf_counter()
    summary: list[tuple[str, str, float]] = []
    with runtime(load_settings()) as resolved:
        ctx = DemoContext(resolved, facts={"approver_keys": approver_keys})
        console.print(
            f"[bold]Model Steward demo[/] in {demo_home} (embedded S3 at "
            f"{resolved.s3_endpoint_url}, not durable)\n"
        )
        try:
            for title, stage in STAGES:
                t0 = time.perf_counter()
                with console.status(f"[bold]{title}[/]…"):
                    line = stage(ctx)
                elapsed = time.perf_counter() - t0
                summary.append((title, line, elapsed))
                console.print(f"[green]✓[/] [bold]{title}[/] ({elapsed:.1f}s): {line}")
        finally:
            stop = ctx.facts.get("stop_serving")
            if stop is not None:
                stop.set()
            if ctx.guard is not None:
                ctx.guard.close()
    console.print(f"\n[bold]Demo finished in {time.perf_counter() - started:.0f}s.[/]")
    if "kill_ms" in ctx.facts:
        console.print(
            f"  kill -> guard refusal: {ctx.facts['kill_ms']:.0f} ms (automatic), "
            f"{ctx.facts.get('webhook_ms', float('nan')):.0f} ms (PagerDuty webhook)"
        )
    for fmt, path in ctx.facts.get("reports", {}).items():
        console.print(f"  report ({fmt}): {path}")
    console.print(f"  alerts outbox: {resolved.outbox_dir / 'alerts.jsonl'}")
    console.print(f"  audit ledger:  {resolved.ledger_dir}  (steward audit verify)")


def register(cli: click.Group) -> None:
    cli.add_command(demo)
