"""Benchmark: a burst of alerts delivered to Slack, paced and coalesced, vs one message each.

Starts the loopback Slack Web API (:class:`modelsteward.alerts.fakes.FakeSlack`), which
answers 429 to a second message in a channel within one second, as Slack does. Enqueues a
burst (default 1,000 alerts for 50 models whose roles sit in 5 channels: 10 models and 200
alerts per channel, 2 incidents per model) into a fresh outbox, then delivers with the real
``slack_sdk`` client until nothing is pending. It checks from the server's own log that

- no channel ever received two messages less than one second apart (and no 429 was needed),
- every alert appears in exactly one message,

and prints the number of Slack messages and the wall time beside the naive baseline: one
message per alert at one per second per channel, whose wall time is computed, not waited
for (``(alerts per channel - 1)`` seconds, channels in parallel). The machine may be shared
with other work: delivery is paced by design, so the wall time is dominated by the pacing,
not the CPU.

    .venv/bin/python -m benchmarks.bench_alerts --alerts 1000 --models 50 --channels 5
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from modelsteward.alerts import Alert, AlertDispatcher, Outbox, SlackSender
from modelsteward.alerts.fakes import FakeSlack
from modelsteward.policy import Policy, parse_policy

REPO = Path(__file__).resolve().parent.parent


def _policies(models: int, channels: int) -> list[Policy]:
    template = yaml.safe_load((REPO / "policies" / "fraud-detector.yaml").read_text())
    policies = []
    for n in range(models):
        data = yaml.safe_load(yaml.safe_dump(template))
        data["model"] = f"model-{n:02d}"
        data["risk_tier"] = "limited"
        channel = f"#team-{n % channels}"
        for role in ("owner", "guardian", "operator"):
            data["roles"][role]["slack"] = channel  # one team channel per model
        data["roles"]["operator"].pop("pagerduty", None)
        data["actions"] = {
            "warning": {"alert": ["operator", "owner"]},
            "critical": {"alert": ["operator", "owner", "guardian"]},
        }
        policies.append(parse_policy(data))
    return policies


def _alerts(policies: list[Policy], total: int) -> list[tuple[Alert, Policy]]:
    kinds = itertools.cycle(["drift", "performance", "data_quality"])
    out = []
    for i in range(total):
        policy = policies[i % len(policies)]
        signal = "drift_share" if (i // len(policies)) % 2 else "f1"
        out.append(
            (
                Alert(
                    model=policy.model,
                    version="1",
                    kind=next(kinds),  # type: ignore[arg-type]
                    severity="critical" if i % 7 == 0 else "warning",
                    title=f"finding {i:04d} on {policy.model}",
                    summary=f"Synthetic finding {i} of the burst benchmark.",
                    signal=signal,
                    value=0.42,
                    threshold=0.3,
                    idempotency_key=f"burst-{i}",
                    links={"report": f"https://reports.example.com/{policy.model}/{i}.html"},
                ),
                policy,
            )
        )
    return out


def run(total: int, models: int, channels: int) -> None:
    policies = _policies(models, channels)
    names = tuple(f"#team-{c}" for c in range(channels))
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeSlack(channels=names, rate_limit_seconds=1.0) as slack,
    ):
        dispatcher = AlertDispatcher(
            Outbox(Path(tmp) / "outbox.db"),
            slack=SlackSender("xoxb-test-token", base_url=slack.base_url),
            console=None,
        )
        started = time.perf_counter()
        for alert, policy in _alerts(policies, total):
            dispatcher.enqueue(alert, policy)
        enqueued = time.perf_counter() - started

        started = time.perf_counter()
        reports = [dispatcher.deliver_pending(wait_seconds=600)]
        while dispatcher.pending() and len(reports) < 10:
            reports.append(dispatcher.deliver_pending(wait_seconds=600))
        wall = time.perf_counter() - started
        dispatcher.close()

        delivered = sum(len(r.delivered) for r in reports)
        rate_limited = sum(r.rate_limited for r in reports)
        posted = slack.posted
        arrivals: dict[str, list[float]] = defaultdict(list)
        for request in slack.requests:
            arrivals[str(request.channel)].append(request.arrived)
        gaps = [b - a for times in arrivals.values() for a, b in itertools.pairwise(times)]
        seen = Counter()
        for message in posted:
            blocks = str(message.body.get("blocks"))
            for i in range(total):
                if f"finding {i:04d} " in blocks:
                    seen[i] += 1
        per_channel = Counter(str(m.channel) for m in posted)

    per_channel_alerts = -(-total // channels)
    naive_wall = float(per_channel_alerts - 1)
    print(f"burst: {total} alerts, {models} models, {channels} channels (machine shared)")
    print(f"enqueue (durable, fsync per alert): {enqueued:.2f} s, {total / enqueued:.0f} alerts/s")
    once = len(seen) == total and set(seen.values()) == {1}
    print(f"delivered: {delivered}/{total}, each alert in exactly one message: {once}")
    print(f"slack messages: {len(posted)} (per channel {dict(sorted(per_channel.items()))})")
    print(f"429s from the server: {rate_limited}; requests {len(slack.requests)}")
    print(
        f"min gap between two messages in one channel: {min(gaps) if gaps else float('nan'):.3f} s"
        " (limit 1.000 s)"
    )
    print(f"wall time to deliver: {wall:.2f} s")
    print(
        f"naive baseline (1 message per alert, 1/s/channel): {total} messages, "
        f"{naive_wall:.0f} s (computed)"
    )
    print(
        f"ratio: {total / max(len(posted), 1):.0f}x fewer messages, "
        f"{naive_wall / wall:.0f}x less wall time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--channels", type=int, default=5)
    args = parser.parse_args()
    run(args.alerts, args.models, args.channels)


if __name__ == "__main__":
    main()
