"""Router benchmark: the decision path in process (ready-event -> assignment latency at a paced READY
rate over a 1,000,000-candidate pool, memory per pooled candidate, pool operation cost as the pool grows),
and with ``--kafka`` the real router through the broker.

    .venv/bin/python bench/bench_router.py [--pool 1000000] [--rate 500] [--seconds 20]
    .venv/bin/python bench/bench_router.py --kafka [--kafka-pool 1000000] [--workers 1,2]

``--kafka`` runs ``alstream agent router`` processes on an embedded broker (or
``KAFKA_BOOTSTRAP_SERVERS``), once per worker count (each over as many shards as workers, its own topic
prefix), and prints side by side: the time to pool the candidates, READY -> assignment p50/p99 at
``--rate`` (one keyed READY per new annotator, as the SDK sends it), how fast a backlog of ``--burst``
READYs is answered, the routers' CPU per READY (from /proc: what sets the rate a worker sustains on a core
of its own, whatever else shares the machine), and the time from SIGKILL of worker 0 to the first new
assignment from its shards (restarted at once with one worker; taken over by the others with more), with
the restore time and the READYs sent after the router said it serves before the first assignment.
``BENCH_ROUTER_PYSPY=<dir>`` also records py-spy profiles of router 0 while it pools and while it is paced.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

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
    parser.add_argument("--kafka-pool", type=int, default=1_000_000)
    parser.add_argument("--kafka-seconds", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=20_000, help="READYs sent at once to find the capacity")
    parser.add_argument("--workers", default="1,2", help="router worker counts to measure, side by side")
    args = parser.parse_args()
    if args.kafka:
        kafka_end_to_end(
            pool=args.kafka_pool,
            rate=args.rate,
            seconds=args.kafka_seconds,
            burst=args.burst,
            worker_counts=[int(w) for w in args.workers.split(",")],
        )

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


def kafka_end_to_end(*, pool: int, rate: float, seconds: float, burst: int, worker_counts: list[int]) -> None:
    """The real router through the broker, once per worker count, side by side in one table."""
    from alstream.streams.embedded_broker import EmbeddedBroker

    broker = None
    cluster_env = {k: v for k, v in os.environ.items() if k == "KAFKA_BOOTSTRAP_SERVERS"}
    if not cluster_env:
        broker = EmbeddedBroker()
        broker.__enter__()
        cluster_env = broker.client_environment()
    results = []
    try:
        for workers in worker_counts:
            print(
                f"--- {workers} router worker(s) over {workers} shard(s), {pool:,} candidates pooled",
                flush=True,
            )
            results.append(
                RouterRun(cluster_env=cluster_env, workers=workers, pool=pool).measure(
                    rate=rate, seconds=seconds, burst=burst
                )
            )
    finally:
        if broker is not None:
            broker.__exit__(None, None, None)
    rows = [
        ("candidates pooled", lambda r: f"{r['pooled']:,}"),
        ("time to pool them (router reading candidates)", lambda r: f"{r['load_s']:.1f} s"),
        (f"READY -> assignment p50 at {rate:.0f}/s", lambda r: f"{r['p50_ms']:.1f} ms"),
        (f"READY -> assignment p99 at {rate:.0f}/s", lambda r: f"{r['p99_ms']:.1f} ms"),
        (f"READYs answered at {rate:.0f}/s", lambda r: f"{r['answered']:,}/{r['offered']:,}"),
        (f"max sustained READY rate ({burst:,} at once)", lambda r: f"{r['burst_rate']:,.0f}/s"),
        ("  per worker", lambda r: f"{r['burst_rate'] / r['workers']:,.0f}/s"),
        ("router CPU per READY (all workers)", lambda r: f"{r['cpu_ms']:.2f} ms"),
        (
            "  READY/s a worker sustains on a core of its own",  # every worker handles every READY
            lambda r: f"{r['workers'] * 1000 / r['cpu_ms']:,.0f}/s",
        ),
        ("SIGKILL -> first new assignment of its shards", lambda r: f"{r['kill_to_assign_s']:.1f} s"),
        ("  of which restore (checkpoint + changelog tail)", lambda r: f"{r['restore_s']:.1f} s"),
        ("READYs sent after 'serving' before the first assignment", lambda r: f"{r['readies_before']}"),
    ]
    header = (
        f"{'through the broker (' + os.environ.get('KAFKA_BOOTSTRAP_SERVERS', 'embedded Tansu') + ')':<58}"
    )
    print(header + "".join(f"{str(r['workers']) + ' worker(s)':>16}" for r in results))
    for name, cell in rows:
        print(f"{name:<58}" + "".join(f"{cell(r):>16}" for r in results))
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) on {os.cpu_count()} CPUs")


class RouterRun:
    """One deployment (its own topic prefix) with ``workers`` router processes over ``workers`` shards."""

    def __init__(self, *, cluster_env: dict[str, str], workers: int, pool: int) -> None:
        import tempfile
        import uuid
        from pathlib import Path

        from confluent_kafka import Consumer, Producer

        from alstream.streams.kafka_config import consumer_config, producer_config
        from alstream.streams.topics import create_topics

        self.workers = workers
        self.pool = pool
        self.work = Path(tempfile.mkdtemp(prefix="bench-router-"))
        quotas = self.work / "quotas.toml"
        quotas.write_text(
            'version = "bench"\nmax_hard_per_day = 10000000\nmin_normal_share = 0.0\nmax_in_flight = 1000\n'
            "lease_seconds = 36000\n"
        )
        self.env = {
            **os.environ,
            **cluster_env,
            "ALSTREAM_KAFKA__TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:6]}.",
            "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "ALSTREAM_TASK__CLASSES": '["cat","dog","fox"]',
            "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
            "ALSTREAM_PATHS__STATE_DIR": str(self.work),
            "ALSTREAM_INGEST__EMBEDDING_DIM": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.settings = load_settings(environ=self.env)
        create_topics(self.settings, partitions_override=workers)
        self.producer = Producer(producer_config(self.settings, **{"linger.ms": 1}))
        self.events = codec_for("annotator-events", self.settings)
        self.assignments = codec_for("assignments", self.settings)
        self.consumer = Consumer(consumer_config(self.settings, group_id=f"bench-{uuid.uuid4().hex[:6]}"))
        self.consumer.subscribe([self.settings.kafka.topic("assignments")])
        self.routers: list[object] = []
        self.ports: list[int] = []
        self.first: dict[str, float] = {}  # annotator -> when their first assignment arrived
        self.items: list[tuple[float, str, str]] = []  # (arrival, item_id, annotator) of every assignment
        self.sent: dict[str, float] = {}

    # -- processes and probes ----------------------------------------------------------------------
    def start_router(self, index: int) -> None:
        import socket
        import subprocess
        import sys

        if index >= len(self.ports):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.ports.append(probe.getsockname()[1])
        log = (self.work / f"router-{index}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "alstream.cli.main", "agent", "router", "--log-level", "INFO"],
            env={**self.env, "ALSTREAM_METRICS__PORT": str(self.ports[index])},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if index < len(self.routers):
            self.routers[index] = process
        else:
            self.routers.append(process)

    def router_cpu_s(self) -> float:
        """User + system CPU seconds of the router processes so far (Linux /proc)."""
        total = 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        for process in self.routers:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()  # type: ignore[attr-defined]
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def pooled(self) -> int:
        import urllib.request

        total = 0
        for port in self.ports:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("alstream_router_pool_depth{"):
                    total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def serving_lines(self, index: int) -> list[str]:
        text = (self.work / f"router-{index}.log").read_text(errors="replace")
        return [
            line for line in text.splitlines() if "router serving shards" in line or "restored in" in line
        ]

    def produce_candidates(self) -> None:
        codec = codec_for("candidates", self.settings)
        rng = random.Random(5)
        now = datetime.now(tz=UTC)
        topic = self.settings.kafka.topic("candidates")
        started = time.perf_counter()
        for i in range(self.pool):
            record = {
                **candidate(i, now, rng),
                "reason": "TOP_SCORE",
                "signal": "entropy",
                "confidence": None,
                "embedding": bytes(4),  # one float32: ALSTREAM_INGEST__EMBEDDING_DIM=1 keeps records small
                "window_start": now,
            }
            while True:
                try:
                    self.producer.produce(topic, key=record["item_id"].encode(), value=codec.encode(record))
                    break
                except BufferError:
                    self.producer.poll(0.05)
            if i % 100_000 == 0:
                self.producer.poll(0)
                if i:
                    print(f"  produced {i:,} candidates", flush=True)
        self.producer.flush(120)
        print(f"  produced {self.pool:,} candidates in {time.perf_counter() - started:.1f} s", flush=True)

    def ready(self, annotator: str) -> None:
        record = {
            "event_id": f"{annotator}-{time.perf_counter_ns()}",
            "annotator_id": annotator,
            "event_type": "READY",
            "ready_for": 1,
            "skills": [],
            "group": None,
            "occurred_at": datetime.now(tz=UTC),
        }
        self.sent.setdefault(annotator, time.perf_counter())
        value = self.events.encode(record)
        while True:
            try:
                # one event keyed by the annotator, as the SDK sends it; the router fans it out
                self.producer.produce(
                    self.settings.kafka.topic("annotator-events"), key=annotator.encode(), value=value
                )
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def drain(self, timeout: float) -> int:
        got = 0
        for message in self.consumer.consume(5000, timeout=timeout):
            if message.error():
                continue
            record = self.assignments.decode(message.value())
            now = time.perf_counter()
            self.first.setdefault(record["annotator_id"], now)
            self.items.append((now, record["item_id"], record["annotator_id"]))
            got += 1
        return got

    def wait(self, predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.perf_counter() + timeout
        while not predicate():
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out waiting for {what}; logs in {self.work}")
            self.drain(0.2)

    def profile(self, phase: str, seconds: float) -> object | None:
        """With BENCH_ROUTER_PYSPY=<dir>: py-spy samples router 0 for ``seconds`` (raw stacks in <dir>)."""
        import shutil
        import subprocess
        from pathlib import Path

        where = os.environ.get("BENCH_ROUTER_PYSPY")
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not where or not Path(spy).exists():
            return None
        out = Path(where) / f"router-{self.workers}w-{phase}.raw"
        pid = str(self.routers[0].pid)  # type: ignore[attr-defined]
        return subprocess.Popen(
            [spy, "record", "--pid", pid, "--duration", str(int(seconds)), "--format", "raw", "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    # -- the measurements --------------------------------------------------------------------------
    def measure(self, *, rate: float, seconds: float, burst: int) -> dict[str, float]:
        import signal

        from alstream.streams.partitioning import partition_for

        result: dict[str, float] = {"workers": self.workers}
        try:
            self.produce_candidates()
            started = time.perf_counter()
            for index in range(self.workers):
                self.start_router(index)
            self.profile("load", 30)
            last = 0.0
            while (pooled := self.pooled()) < self.pool:
                dead = [i for i, p in enumerate(self.routers) if p.poll() is not None]  # type: ignore[attr-defined]
                if dead:
                    raise SystemExit(f"router {dead} exited; logs in {self.work}")
                if time.perf_counter() - started > 900:
                    raise SystemExit(f"the router pooled only {pooled:,} in 900 s; logs in {self.work}")
                if time.perf_counter() - last > 10:
                    last = time.perf_counter()
                    print(f"  router pooled {pooled:,} after {last - started:.0f} s", flush=True)
                self.drain(0.5)
            result["pooled"], result["load_s"] = pooled, time.perf_counter() - started
            print(f"  {pooled:,} pooled in {result['load_s']:.1f} s", flush=True)
            n = 0

            def warm() -> bool:
                nonlocal n
                n += 1
                self.ready(f"warm-{n}")
                return any(a.startswith("warm-") for a in self.first)

            self.wait(warm, 120, "a first assignment")
            # paced READYs, one new annotator each: the first assignment answers it
            total = int(rate * seconds)
            self.profile("paced", seconds)
            t0 = time.perf_counter()
            for i in range(total):
                due = t0 + i / rate
                while time.perf_counter() < due:
                    self.drain(max(0.0, min(0.002, due - time.perf_counter())))
                self.ready(f"paced-{i}")
            paced = [f"paced-{i}" for i in range(total)]
            end = time.perf_counter() + 60
            while time.perf_counter() < end and not all(a in self.first for a in paced):
                self.drain(0.2)
            latencies = sorted(self.first[a] - self.sent[a] for a in paced if a in self.first)
            result["offered"], result["answered"] = total, len(latencies)
            result["p50_ms"] = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
            result["p99_ms"] = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
            print(
                f"  at {rate:.0f}/s: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms", flush=True
            )
            # a burst: how fast the router answers READYs when it has a backlog (its capacity)
            names = [f"burst-{i}" for i in range(burst)]
            cpu0 = self.router_cpu_s()
            t0 = time.perf_counter()
            for name in names:
                self.ready(name)
            self.producer.flush(30)
            self.wait(lambda: all(a in self.first for a in names), 300, "the burst answered")
            result["burst_rate"] = burst / (max(self.first[a] for a in names) - t0)
            # CPU the routers spent per READY: the capacity an otherwise idle core gives, whatever else runs
            result["cpu_ms"] = (self.router_cpu_s() - cpu0) / burst * 1000
            print(f"  burst of {burst:,}: {result['burst_rate']:,.0f} READY/s", flush=True)
            # SIGKILL worker 0 with the pool full; annotators keep asking; first new assignment of its shards
            served = [line for line in self.serving_lines(0) if "router serving shards [" in line]
            inside = served[-1].split("router serving shards [", 1)[1].split("]", 1)[0] if served else ""
            victim_shards = {int(x) for x in inside.split(",") if x.strip()}  # what worker 0 served
            assigned_before = len(self.items)
            watch = 0 if self.workers == 1 else 1  # the restarted worker, or the one that takes over
            serving_before = len(self.serving_lines(watch))
            killed = time.perf_counter()
            self.routers[0].send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
            self.routers[0].wait()  # type: ignore[attr-defined]
            if self.workers == 1:
                self.start_router(0)  # restarted at once; with more workers the others take over
            k = 0
            readies_after_serving = None

            def answered() -> bool:
                nonlocal k, readies_after_serving
                k += 1
                self.ready(f"after-kill-{k}")
                lines = self.serving_lines(watch)[serving_before:]
                if readies_after_serving is None and any("serving" in x for x in lines):
                    readies_after_serving = 0
                elif readies_after_serving is not None:
                    readies_after_serving += 1
                return any(True for _ in new_work())

            def new_work():  # type: ignore[no-untyped-def]
                """Decisions the READYs sent after the kill got from the victim's shards (open leases
                re-sent at restore are not new work)."""
                for at, item, annotator in self.items[assigned_before:]:
                    if (
                        annotator.startswith("after-kill-")
                        and partition_for(item, self.workers) in victim_shards
                    ):
                        yield at

            deadline = time.perf_counter() + 300
            while not answered():
                if time.perf_counter() > deadline:
                    raise SystemExit(f"no assignment after the SIGKILL in 300 s; logs in {self.work}")
                self.drain(0.05)
            first_new = min(new_work())
            result["kill_to_assign_s"] = first_new - killed
            # (log timestamp, seconds) of every restore; the latest is the one after the kill
            restores = sorted(
                (line[:23], float(line.split("restored in ")[1].split("s:")[0]))
                for index in range(self.workers)
                for line in self.serving_lines(index)
                if "restored in" in line
            )
            result["restore_s"] = restores[-1][1] if restores else float("nan")
            result["readies_before"] = readies_after_serving if readies_after_serving is not None else "-"
            print(f"  SIGKILL -> first new assignment: {result['kill_to_assign_s']:.1f} s", flush=True)
        finally:
            for process in self.routers:
                if process.poll() is None:  # type: ignore[attr-defined]
                    process.terminate()  # type: ignore[attr-defined]
                    process.wait(60)  # type: ignore[attr-defined]
            self.consumer.close()
        return result


if __name__ == "__main__":
    main()
