"""Router benchmark: ready-event -> assignment latency at a paced READY rate over a 1,000,000-candidate
pool, memory per pooled candidate, and pool operation cost as the pool grows (O(log n)).

Measures the router's decision path in-process (one shard: pool, quotas, leases, the table writes it
emits and the Avro encoding of each assignment), not the broker round trip: faust's own per-event cost
on this machine is in BROKER-NOTES (~5,000 events/s), far above 500 READY/s.

    .venv/bin/python bench/bench_router.py [--pool 1000000] [--rate 500] [--seconds 20]
    .venv/bin/python bench/bench_router.py --kafka [--kafka-pool 20000]   # + end to end through faust

``--kafka`` also runs the real router (``alstream agent router``) on an embedded broker (or
``KAFKA_BOOTSTRAP_SERVERS``) with single-partition topics and measures READY produced -> assignment
consumed by the tool at the same rate, over a smaller pool (loading a million candidates through faust
takes minutes; the in-process figures above show the pool size itself does not matter).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import time
import tracemalloc
from datetime import UTC, datetime

from alstream.agents.router.pool import HARD, SOURCE_OF_REASON, CandidatePool, PooledCandidate
from alstream.agents.router.quotas import Quotas
from alstream.agents.router.state import RouterShard, from_ms
from alstream.settings import load_settings
from alstream.streams.codecs import codec_for

REASONS = ["TOP_SCORE"] * 6 + ["SHIFT_REVIEW", "SHIFT_REVIEW", "RANDOM_SLICE", "RANDOM_SLICE"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def candidate(i: int, now: datetime, rng: random.Random) -> dict[str, object]:
    reason = "QA_GOLD" if i % 2000 == 0 else REASONS[i % len(REASONS)]
    return {
        "item_id": f"item-{i:08d}",
        "reason": reason,
        "score": rng.random(),
        "selected_at": now,
        "skills": [],
        "policy_version": "2026.11-entropy-1",
        "model_version": "m-7",
        "unit_of_work": "ITEM",
        "uri": None,
        "predicted_class": "cat",
    }


def memory_per_candidate(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    pool = CandidatePool(max_size=n + 1, max_age_ms=10**12, fresh_max=10)
    rng = random.Random(1)
    for i in range(n):
        pool.add(
            PooledCandidate(
                item_id=f"item-{i:08d}",
                source=HARD,
                score=rng.random(),
                selected_at_ms=i,
                policy_version="p",
                model_version="m",
                predicted_class="cat",
            ),
            now_ms=i,
        )
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del pool
    return used / n


def op_cost(sizes: list[int]) -> list[tuple[int, float, float]]:
    """Microseconds per add and per take at each pool size (log n growth, not n)."""
    rows = []
    rng = random.Random(2)
    for size in sizes:
        pool = CandidatePool(max_size=size * 2, max_age_ms=10**12, fresh_max=10)
        for i in range(size):
            pool.add(
                PooledCandidate(item_id=f"p{i}", source=HARD, score=rng.random(), selected_at_ms=i), now_ms=i
            )
        reps = 20_000
        start = time.perf_counter()
        for i in range(reps):
            pool.add(
                PooledCandidate(item_id=f"n{i}", source=HARD, score=rng.random(), selected_at_ms=size + i),
                now_ms=size + i,
            )
        add_us = (time.perf_counter() - start) / reps * 1e6
        start = time.perf_counter()
        for _ in range(reps):
            pool.take(HARD, skills=frozenset(), excluded=lambda _: False)
        take_us = (time.perf_counter() - start) / reps * 1e6
        rows.append((size, add_us, take_us))
        del pool
        gc.collect()
    return rows


def op_cost_on(pool: CandidatePool, rng: random.Random, reps: int = 20_000) -> list[tuple[int, float, float]]:
    size = len(pool)
    start = time.perf_counter()
    for i in range(reps):
        pool.add(
            PooledCandidate(item_id=f"x{i}", source=HARD, score=rng.random(), selected_at_ms=2**40 + i),
            now_ms=0,
        )
    add_us = (time.perf_counter() - start) / reps * 1e6
    start = time.perf_counter()
    for _ in range(reps):
        pool.take(HARD, skills=frozenset(), excluded=lambda _: False)
    take_us = (time.perf_counter() - start) / reps * 1e6
    return [(size, add_us, take_us)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--annotators", type=int, default=1000)
    parser.add_argument(
        "--kafka", action="store_true", help="also measure end to end through the real router"
    )
    parser.add_argument("--kafka-pool", type=int, default=20_000)
    args = parser.parse_args()
    if args.kafka:
        kafka_end_to_end(pool=args.kafka_pool, rate=args.rate, seconds=min(args.seconds, 20), annotators=200)

    print(f"memory per pooled candidate (tracemalloc, 100k pool): {memory_per_candidate(100_000):.0f} bytes")
    for size, add_us, take_us in op_cost([10_000, 100_000]):
        print(f"pool size {size:>9,}: add {add_us:5.2f} us, take {take_us:5.2f} us")

    settings = load_settings()
    codec = codec_for("assignments", settings)
    quotas = Quotas(version="bench")
    shard = RouterShard(
        shard=0,
        shards=1,
        quotas=quotas,
        classes=["cat", "dog", "fox"],
        pool_max=args.pool * 2,
        max_age_ms=30 * 24 * 3600 * 1000,
    )
    rng = random.Random(0)
    now = datetime.now(tz=UTC)
    now_ms = int(now.timestamp() * 1000)
    sample = min(100_000, args.pool)
    start = time.perf_counter()
    for i in range(sample):
        shard.handle_candidate(candidate(i, now, rng), now_ms=now_ms)
    handler_rate = sample / (time.perf_counter() - start)
    rss_before = rss_mb()
    start = time.perf_counter()
    for i in range(sample, args.pool):  # the rest straight into the pool (what a restore does)
        record = candidate(i, now, rng)
        shard.pool.add(
            PooledCandidate(
                item_id=record["item_id"],
                source=SOURCE_OF_REASON[record["reason"]],
                score=record["score"],
                selected_at_ms=now_ms,
                policy_version="p",
                model_version="m",
                predicted_class="cat",
            ),
            now_ms=now_ms,
        )
    load_s = time.perf_counter() - start
    print(
        f"candidate handler: {handler_rate:,.0f} candidates/s; pooled {len(shard.pool):,} candidates "
        f"(bulk add {load_s:.1f} s, max RSS grew {rss_mb() - rss_before:,.0f} MB for the last "
        f"{args.pool - sample:,})"
    )
    gc.collect()
    gc.freeze()  # the router does the same after restoring a shard: full GCs must not walk a million records
    for size, add_us, take_us in op_cost_on(shard.pool, rng):
        print(f"pool size {size:>9,}: add {add_us:5.2f} us, take {take_us:5.2f} us")

    events = int(args.rate * args.seconds)
    latencies: list[float] = []
    cpu: list[float] = []
    assigned = 0
    t0 = time.perf_counter()
    for i in range(events):
        due = t0 + i / args.rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        annotator = f"ann-{i % args.annotators}"
        cpu0 = time.thread_time()
        event_ms = int(time.time() * 1000)
        effects = shard.handle_annotator_event(
            {
                "event_id": f"e{i}",
                "annotator_id": annotator,
                "event_type": "READY",
                "ready_for": 1,
                "occurred_at": from_ms(event_ms),
            },
            now_ms=event_ms,
        )
        for assignment in effects.assignments:
            codec.encode(assignment)
        latencies.append(time.perf_counter() - due)
        cpu.append(time.thread_time() - cpu0)
        assigned += len(effects.assignments)
        for assignment in effects.assignments:  # the annotator labels it (not timed)
            shard.handle_label(
                {"assignment_id": assignment["assignment_id"], "annotator_id": annotator}, now_ms=event_ms
            )
    elapsed = time.perf_counter() - t0
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(
        f"READY events: {events:,} at {events / elapsed:,.0f}/s offered {args.rate:.0f}/s, "
        f"{assigned:,} assignments, pool {len(shard.pool):,}"
    )
    print(
        f"ready-event -> assignment latency (decide + table writes + Avro encode): p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms, max {latencies[-1] * 1000:.3f} ms"
    )
    cpu.sort()
    print(
        "CPU time per READY (independent of other load on the machine): "
        f"p50 {cpu[len(cpu) // 2] * 1000:.3f} ms, "
        f"p99 {cpu[int(len(cpu) * 0.99)] * 1000:.3f} ms; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )


def kafka_end_to_end(*, pool: int, rate: float, seconds: float, annotators: int) -> None:
    import subprocess
    import sys
    import tempfile
    import uuid
    from collections import deque
    from pathlib import Path

    from confluent_kafka import Consumer, Producer

    from alstream.streams.embedded_broker import EmbeddedBroker
    from alstream.streams.kafka_config import consumer_config, producer_config
    from alstream.streams.topics import create_topics

    broker = None
    cluster_env = {k: v for k, v in os.environ.items() if k == "KAFKA_BOOTSTRAP_SERVERS"}
    if not cluster_env:
        broker = EmbeddedBroker()
        broker.__enter__()
        cluster_env = broker.client_environment()
    work = Path(tempfile.mkdtemp(prefix="bench-router-"))
    quotas = work / "quotas.toml"
    quotas.write_text(
        'version = "bench"\nmax_hard_per_day = 100000\nmin_normal_share = 0.0\nmax_in_flight = 1000\n'
        "lease_seconds = 3600\n"
    )
    env = {
        **os.environ,
        **cluster_env,
        "ALSTREAM_KAFKA__TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:6]}.",
        "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "ALSTREAM_TASK__CLASSES": '["cat","dog","fox"]',
        "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
        "ALSTREAM_PATHS__STATE_DIR": str(work),
        "ALSTREAM_METRICS__PORT": "0",
        "ALSTREAM_INGEST__EMBEDDING_DIM": "1",
    }
    settings = load_settings(environ=env)  # the router subprocess gets the same as its environment
    create_topics(settings, partitions_override=1)
    producer = Producer(producer_config(settings))
    candidates, events = codec_for("candidates", settings), codec_for("annotator-events", settings)
    assignments_codec = codec_for("assignments", settings)
    rng = random.Random(5)
    now = datetime.now(tz=UTC)
    for i in range(pool):
        record = {
            **candidate(i, now, rng),
            "reason": "TOP_SCORE",
            "signal": "entropy",
            "confidence": None,
            "embedding": bytes(4),  # one float32: ALSTREAM_INGEST__EMBEDDING_DIM=1 keeps the pool small
            "window_start": now,
        }
        producer.produce(
            settings.kafka.topic("candidates"),
            key=record["item_id"].encode(),
            value=candidates.encode(record),
        )
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)
    log = (work / "router.log").open("wb")
    level = os.environ.get("BENCH_ROUTER_LOG_LEVEL", "WARNING")
    router = subprocess.Popen(
        [sys.executable, "-m", "alstream.cli.main", "agent", "router", "--log-level", level],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    consumer = Consumer(consumer_config(settings, group_id=f"bench-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([settings.kafka.topic("assignments")])
    sent: dict[str, deque[float]] = {}
    latencies: list[float] = []

    def ready(annotator: str) -> None:
        record = {
            "event_id": uuid.uuid4().hex,
            "annotator_id": annotator,
            "event_type": "READY",
            "ready_for": 1,
            "skills": [],
            "group": None,
            "occurred_at": datetime.now(tz=UTC),
        }
        sent.setdefault(annotator, deque()).append(time.perf_counter())
        producer.produce(
            settings.kafka.topic("annotator-events"), key=annotator.encode(), value=events.encode(record)
        )
        producer.poll(0)

    def drain(timeout: float) -> None:
        for message in consumer.consume(1000, timeout=timeout):
            if message.error():
                continue
            annotator = assignments_codec.decode(message.value())["annotator_id"]
            if sent.get(annotator):
                latencies.append(time.perf_counter() - sent[annotator].popleft())

    try:
        deadline = time.perf_counter() + 120
        while not latencies and time.perf_counter() < deadline:
            # Re-sent until answered: faust interleaves topics, so a READY may be read before the candidates.
            ready("warm-up")
            for _ in range(4):
                drain(0.5)
        time.sleep(2)
        drain(0.5)
        if not latencies:
            raise SystemExit(f"router did not answer within 120 s; see {work / 'router.log'}")
        latencies.clear()
        total = int(rate * seconds)
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / rate
            while time.perf_counter() < due:
                drain(max(0.0, min(0.002, due - time.perf_counter())))
            ready(f"ann-{i % annotators}")
        producer.flush(10)
        end = time.perf_counter() + 30
        while len(latencies) < total and time.perf_counter() < end:
            drain(0.2)
        latencies.sort()
        if latencies:
            print(
                f"end to end through the broker and faust (pool {pool:,}, {total:,} READY at {rate:.0f}/s): "
                f"{len(latencies):,} answered, p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
                f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
            )
    finally:
        router.terminate()
        router.wait(30)
        consumer.close()
        if broker is not None:
            broker.__exit__(None, None, None)


if __name__ == "__main__":
    main()
