"""Benchmark: the kill switch end to end, each figure beside a baseline from the same run.

1. ``Guard.check`` overhead per call (a guard with its refresh thread running) vs the naive
   design, an HTTP GET to ``/models/{model}/status`` of a real ``steward serve`` on loopback
   per prediction (keep-alive client: the naive design at its best). Target: p50 < 1 us and
   >= 1,000x faster.
2. Kill latency: from a signed PagerDuty webhook leaving the sender to a guard in ANOTHER
   process refusing the model, while that process's serving loop is busy with predictions
   (the guard's refresh thread competes with it for the GIL), for each store. Targets: p99 <
   25 ms with Redis, < 50 ms with SQLite (for reference: LaunchDarkly quotes ~200 ms typical;
   polling flag SDKs take 15-60 s). Baseline: the plain HTTP round trip of the same webhook
   request (``202`` received), so the ratio shows what propagation adds.
3. Optional throughput: signed webhooks at a fixed rate (default 200/s) for N seconds with a
   share of replayed deliveries, p99 latency, and a ledger check that every delivery was
   applied exactly once.

The service runs as ``steward serve`` in a subprocess (real uvicorn), the serving app as a
second subprocess. Nothing leaves loopback; figures are noisy on a shared machine (the load
average is printed). Never fails on noise.

    .venv/bin/python -m benchmarks.bench_guard                 # ~1 minute
    .venv/bin/python -m benchmarks.bench_guard --kills 200 --throughput-seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} us" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def signed(body: bytes) -> str:
    import hashlib
    import hmac

    return "v1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def webhook(model: str, number: int) -> tuple[bytes, dict[str, str]]:
    incident = "Q" + uuid.uuid4().hex[:12].upper()
    event = {
        "event": {
            "id": str(uuid.uuid4()),
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "occurred_at": "2026-11-25T21:00:00.000Z",
            "agent": {"id": "PBENCH1", "summary": "bench", "type": "user_reference"},
            "client": {"name": "PagerDuty"},
            "data": {
                "id": incident,
                "type": "incident",
                "number": number,
                "status": "triggered",
                "incident_key": f"steward:{model}:bench-{number}",
                "title": f"{model} benchmark kill {number}",
                "service": {"id": "PBENCHS", "type": "service_reference"},
                "urgency": "high",
            },
        }
    }
    body = json.dumps(event).encode()
    return body, {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": signed(body),
        "X-Webhook-Id": str(uuid.uuid4()),
    }


@contextmanager
def steward_serve(home: Path, store_url: str) -> Iterator[str]:
    from modelsteward.embedded import free_port

    port = free_port()
    env = {
        **os.environ,
        "STEWARD_HOME": str(home),
        "STEWARD_POLICY_DIR": str(REPO / "policies"),
        "STEWARD_KILLSWITCH_URL": store_url,
        "STEWARD_PAGERDUTY_WEBHOOK_SECRETS": SECRET,
        "STEWARD_LOG_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)  # follow-ups are recorded as pending
    log = open(home / "serve.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "steward"), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"steward serve did not start; see {home / 'serve.log'}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


# ---------------------------------------------------------------------------------- part 1
def bench_check(store_url: str, base: str, model: str, samples: int, naive_samples: int) -> None:
    from modelsteward import Guard
    from modelsteward.killswitch import open_store

    print(f"\n## 1. Guard.check overhead ({samples:,} calls) vs HTTP status GET per prediction")
    with Guard(open_store(store_url), owns_store=True) as guard:
        guard.wait_for_revision(1, 30)
        guard.check(model)
        clock = time.perf_counter_ns
        timer = []
        for _ in range(samples // 10):
            t0 = clock()
            timer.append(clock() - t0)
        timer_ns = statistics.median(timer)
        per_call: list[float] = []
        check = guard.check
        for _ in range(samples):
            t0 = clock()
            check(model)
            per_call.append((clock() - t0 - timer_ns) / 1e9)
        batch = 1000
        means = []
        for _ in range(max(1, samples // batch)):
            t0 = clock()
            for _ in range(batch):
                check(model)
            means.append((clock() - t0) / batch / 1e9)
    naive: list[float] = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(20):
            client.get(f"/models/{model}/status")
        for _ in range(naive_samples):
            t0 = time.perf_counter()
            response = client.get(f"/models/{model}/status")
            if not response.json()["active"]:
                raise RuntimeError("benchmark model unexpectedly disabled")
            naive.append(time.perf_counter() - t0)
    g50, g99 = pct(per_call, 0.5), pct(per_call, 0.99)
    n50, n99 = pct(naive, 0.5), pct(naive, 0.99)
    print(
        f"guard.check         p50 {fmt_us(g50):>12}  p99 {fmt_us(g99):>12}"
        f"  (timer overhead {timer_ns:.0f} ns subtracted; batch-of-1000 mean p50 "
        f"{fmt_us(pct(means, 0.5))})"
    )
    print(
        f"naive HTTP GET      p50 {fmt_us(n50):>12}  p99 {fmt_us(n99):>12}  "
        f"({naive_samples} requests)"
    )
    print(
        f"ratio naive/guard   p50 {n50 / g50:>10,.0f}x  p99 {n99 / g99:>10,.0f}x   "
        "(target >= 1,000x, p50 < 1 us)"
    )


# ---------------------------------------------------------------------------------- part 2
_SERVING_APP = r"""
import json, sys, threading, time
from modelsteward import Guard, ModelDisabledError
from modelsteward.killswitch import open_store

guard = Guard(open_store(sys.argv[1]), owns_store=True)
if not guard.wait_for_revision(int(sys.argv[2]), 60):
    sys.exit("guard did not load the store")
target = [None]
stop = threading.Event()

def commands():
    for line in sys.stdin:
        target[0] = line.strip()
        print(json.dumps({"ack": target[0]}), flush=True)
    stop.set()

threading.Thread(target=commands, daemon=True).start()
print(json.dumps({"ready": True}), flush=True)
features = list(range(400))
predictions = 0
while not stop.is_set():
    model = target[0]
    if model:
        try:
            guard.check(model)
        except ModelDisabledError:
            refused_at = time.monotonic_ns()
            target[0] = None  # before printing: the parent's next command may follow at once
            print(json.dumps({"refused": model, "t": refused_at,
                              "predictions": predictions}), flush=True)
            continue
    sum(x * x for x in features)  # the "model": ~20-40 us of pure Python per prediction
    predictions += 1
guard.close()
"""


def bench_kill_latency(label: str, store_url: str, home: Path, kills: int) -> dict[str, float]:
    from modelsteward.killswitch import open_store

    models = [f"bench-{i}" for i in range(kills)]
    with open_store(store_url) as store:
        for model in models:
            store.set_state(
                model, active=True, actor="bench@example.com", role="guardian", reason="benchmark"
            )
        revision = store.revision()
    latencies: list[float] = []
    round_trips: list[float] = []
    after_202: list[float] = []
    predictions = 0
    with steward_serve(home, store_url) as base:
        app = subprocess.Popen(
            [sys.executable, "-c", _SERVING_APP, store_url, str(revision)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert app.stdin is not None and app.stdout is not None
        try:
            json.loads(app.stdout.readline())  # ready
            with httpx.Client(base_url=base, timeout=10) as client:
                client.get("/healthz")
                for number, model in enumerate(models):
                    app.stdin.write(model + "\n")
                    app.stdin.flush()
                    assert json.loads(app.stdout.readline()) == {"ack": model}
                    body, hdrs = webhook(model, number)
                    t0 = time.monotonic_ns()
                    response = client.post("/webhooks/pagerduty", content=body, headers=hdrs)
                    t_response = time.monotonic_ns()
                    if response.status_code != 202:
                        raise RuntimeError(
                            f"webhook answered {response.status_code}: {response.text}"
                        )
                    refused = json.loads(app.stdout.readline())
                    latencies.append((refused["t"] - t0) / 1e9)
                    round_trips.append((t_response - t0) / 1e9)
                    after_202.append(max(0.0, (refused["t"] - t_response) / 1e9))
                    predictions = refused["predictions"]
        finally:
            app.stdin.close()
            app.wait(timeout=30)
    p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    b50, b99 = pct(round_trips, 0.5), pct(round_trips, 0.99)
    a50, a99 = pct(after_202, 0.5), pct(after_202, 0.99)
    print(
        f"{label:<7} webhook sent -> refused   p50 {fmt_us(p50):>9}  p99 {fmt_us(p99):>9}  "
        f"max {fmt_us(max(latencies)):>9}  ({kills} kills, serving loop at {predictions:,} "
        "predictions)"
    )
    print(
        f"{'':<7} baseline: webhook -> 202  p50 {fmt_us(b50):>9}  p99 {fmt_us(b99):>9}  "
        f"| ratio p50 {p50 / b50:.2f}x p99 {p99 / b99:.2f}x | refused after the 202: p50 "
        f"{fmt_us(a50)} p99 {fmt_us(a99)}"
    )
    return {"p50": p50, "p99": p99}


# ---------------------------------------------------------------------------------- part 3
async def _post_worker(
    host: str, port: int, queue: asyncio.Queue[Any], results: list[tuple[int, float, float]]
) -> None:
    """A lean keep-alive HTTP/1.1 sender (httpx would cost more CPU than the service)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (item := await queue.get()) is not None:
            scheduled, body, hdrs = item
            head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
            writer.write(
                f"POST /webhooks/pagerduty HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Length: {len(body)}\r\n{head}\r\n".encode("latin-1")
                + body
            )
            sent = time.perf_counter()
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            done = time.perf_counter()
            results.append((status, done - scheduled, done - sent))
    finally:
        writer.close()


async def _blast(
    base: str, rate: float, seconds: float, models: list[str], replay_every: int
) -> tuple[list[tuple[int, float, float]], int, int]:
    """Open loop: request k is due at start + k/rate, whether or not earlier ones answered."""
    host, port = base.removeprefix("http://").split(":")
    queue: asyncio.Queue[Any] = asyncio.Queue()
    results: list[tuple[int, float, float]] = []
    workers = [
        asyncio.create_task(_post_worker(host, int(port), queue, results)) for _ in range(48)
    ]
    deliveries: list[tuple[bytes, dict[str, str]]] = []
    unique = replayed = 0
    start = time.perf_counter()
    for k in range(int(rate * seconds)):
        due = start + k / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        if deliveries and k % replay_every == 0:
            body, hdrs = deliveries[(k // replay_every) % len(deliveries)]
            replayed += 1
        else:
            body, hdrs = webhook(models[unique % len(models)], unique)
            deliveries.append((body, hdrs))
            unique += 1
        queue.put_nowait((due, body, hdrs))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return results, unique, replayed


def bench_throughput(label: str, store_url: str, home: Path, rate: float, seconds: float) -> None:
    from modelsteward.audit import Ledger
    from modelsteward.killswitch import open_store

    models = [f"tp-{i}" for i in range(20)]
    with open_store(store_url) as store:
        for model in models:
            store.set_state(
                model, active=True, actor="bench@example.com", role="guardian", reason="benchmark"
            )
    with steward_serve(home, store_url) as base:
        started = time.perf_counter()
        results, unique, replayed = asyncio.run(
            _blast(base, rate, seconds, models, replay_every=10)
        )
        elapsed = time.perf_counter() - started
        time.sleep(1.0)  # let the background follow-ups finish before the service stops
    with Ledger(home / "ledger") as ledger:
        disabled = [
            r for r in ledger.records(action="model.disabled") if (r.model or "").startswith("tp-")
        ]
    ids = [r.details.get("webhook_id") for r in disabled]
    exactly_once = len(ids) == unique and len(set(ids)) == unique
    with open_store(store_url) as store:
        all_off = all(not s.active for m, s in store.all_states().items() if m in models)
    statuses: dict[int, int] = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    from_due = [r[1] for r in results]
    from_sent = [r[2] for r in results]
    total = unique + replayed
    print(
        f"{label:<7} {total} webhooks in {elapsed:.1f}s ({total / elapsed:.0f}/s offered at "
        f"{rate:.0f}/s): latency from due time p50 {fmt_us(pct(from_due, 0.5))} p99 "
        f"{fmt_us(pct(from_due, 0.99))} (target < 250 ms); from send p50 "
        f"{fmt_us(pct(from_sent, 0.5))} p99 {fmt_us(pct(from_sent, 0.99))}"
    )
    print(
        f"{'':<7} statuses {dict(sorted(statuses.items()))}; {replayed} replays answered "
        f"duplicate: {statuses.get(200, 0) == replayed}; {unique} deliveries each applied "
        f"exactly once (ledger): {exactly_once}; all {len(models)} models off: {all_off}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-samples", type=int, default=200_000)
    parser.add_argument("--naive-samples", type=int, default=500)
    parser.add_argument("--kills", type=int, default=50, help="Kills per store for part 2.")
    parser.add_argument("--stores", default="redis,sqlite")
    parser.add_argument(
        "--redis-url", default=os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--throughput-seconds", type=float, default=5.0, help="Part 3 duration (0 skips it)."
    )
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("DO_NOT_TRACK", "1")

    print("# bench_guard: kill switch latency on this machine")
    print(
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} "
        "cores, shared with other engineers' work: expect noise"
    )
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        root = Path(tmp)

        def url_for(kind: str, name: str) -> str:
            if kind == "redis":
                return f"{args.redis_url}?prefix=bench-guard:{uuid.uuid4().hex[:8]}:"
            return f"sqlite:///{root / name / 'killswitch.db'}"

        first = stores[0]
        home = root / "part1"
        home.mkdir()
        url = url_for(first, "part1")
        from modelsteward.killswitch import open_store

        with open_store(url) as store:
            store.set_state(
                "bench-model",
                active=True,
                actor="bench@example.com",
                role="guardian",
                reason="benchmark",
            )
        with steward_serve(home, url) as base:
            bench_check(url, base, "bench-model", args.check_samples, args.naive_samples)

        print("\n## 2. signed webhook -> guard in another process refusing (busy serving loop)")
        for kind in stores:
            home = root / f"kill-{kind}"
            home.mkdir()
            bench_kill_latency(kind, url_for(kind, f"kill-{kind}"), home, args.kills)

        if args.throughput_seconds > 0:
            print(
                f"\n## 3. webhook throughput at {args.rate:.0f}/s for {args.throughput_seconds:g}s"
                " (10% replayed deliveries)"
            )
            kind = stores[0]
            home = root / "throughput"
            home.mkdir()
            bench_throughput(
                kind, url_for(kind, "throughput"), home, args.rate, args.throughput_seconds
            )
        _cleanup_redis(args.redis_url, stores)


def _cleanup_redis(url: str, stores: list[str]) -> None:
    if "redis" not in stores:
        return
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="bench-guard:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


if __name__ == "__main__":
    main()
