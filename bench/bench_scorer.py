"""Scorer benchmark: throughput against a raw consume-then-produce passthrough, and latency at 10k items/s.

Run: ``.venv/bin/python bench/bench_scorer.py [--items N] [--partitions P] [--latency-seconds S]``.
Uses its own embedded broker unless ``KAFKA_BOOTSTRAP_SERVERS`` is set. Both throughput paths read the
same pre-produced items (64-dim float32 embeddings, no production probabilities, 10 classes) on the same
broker in the same run; the scorer scores them with a two-model committee (two logistic
regressions, or logistic regression + Gaussian naive Bayes; KL disagreement), produces scores and
candidates, and stores offsets after delivery, exactly as ``alstream agent scorer`` does. The
passthrough does the least a Kafka agent can: consume a batch, produce every value unchanged, wait
for delivery, store offsets.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from alstream.agents.scorer.models import ActiveModel
from alstream.agents.scorer.native_tuning import tune_native_libraries
from alstream.agents.scorer.processor import ScorerProcessor
from alstream.agents.selection.policy import Policy, load_policy
from alstream.agents.trainer.committee import fit_committee
from alstream.models.artifacts import ModelBundle, save_bundle
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.batch_loop import BatchAgentRunner, StopFlag
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.kafka_config import consumer_config, producer_config
from alstream.streams.topics import create_topics

DIM = 64
CLASSES = [f"class{i}" for i in range(10)]
ITEMS = SingleObjectCodec("items")
POLICY = Policy(version="bench-1", goal="benchmark", signal={"name": "kl_disagreement"}, window_seconds=10.0)


def make_bundle(kind: str) -> ModelBundle:
    """Two weak models: ``lr+lr`` = logistic regressions on the two halves of the data (bagging-style
    query by committee); ``lr+nb`` = logistic regression + Gaussian naive Bayes (two model families);
    ``default`` = the trainer's default committee (``[trainer] committee``), fitted by the trainer's code
    with the reference sample a fused policy ranks against."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, DIM)).astype(np.float32)
    y = np.array(CLASSES)[np.argmax(x[:, :10], axis=1)]
    if kind == "default":
        return fit_committee(x, y, metadata={"committee": kind}, reference=x[:1000])
    first = LogisticRegression(max_iter=300).fit(x[:1000], y[:1000])
    second = (
        GaussianNB().fit(x[1000:], y[1000:])
        if kind == "lr+nb"
        else LogisticRegression(max_iter=300, C=0.1).fit(x[1000:], y[1000:])
    )
    return ModelBundle(
        estimators=[first, second], classes=CLASSES, embedding_dim=DIM, metadata={"committee": kind}
    )


def encode_item(i: int, embedding: np.ndarray, now_ms: int) -> bytes:
    return ITEMS.encode(
        {
            "item_id": f"item-{i:09d}",
            "source": "bench",
            "unit_of_work": "ITEM",
            "embedding": embedding.tobytes(),
            "probabilities": None,
            "event_time": now_ms,
        }
    )


def produce_items(settings: AlstreamSettings, count: int) -> float:
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(count, DIM)).astype("<f4")
    producer = Producer(producer_config(settings))
    topic = settings.kafka.topic("items")
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    for i in range(count):
        value = encode_item(i, embeddings[i], now_ms)
        while True:
            try:
                producer.produce(topic, key=f"item-{i:09d}", value=value)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 5000 == 0:
            producer.poll(0)
    producer.flush(60)
    return count / (time.perf_counter() - started)


def passthrough(settings: AlstreamSettings, count: int) -> tuple[float, float]:
    """Raw confluent-kafka consume -> produce unchanged -> flush -> store offsets; items/s after first
    message."""
    consumer = Consumer(consumer_config(settings, group_id=f"bench-pass-{uuid.uuid4().hex[:6]}"))
    producer = Producer(producer_config(settings))
    out_topic = settings.kafka.topic("dead-letters")  # any catalogue topic: values are only copied
    consumer.subscribe([settings.kafka.topic("items")])
    done = 0
    started = None
    cpu_started = 0.0
    try:
        while done < count:
            messages = consumer.consume(5000, 0.1)
            good = [m for m in messages if m.error() is None]
            if not good:
                continue
            if started is None:
                started = time.perf_counter()
                cpu_started = time.process_time()
            for m in good:
                while True:
                    try:
                        producer.produce(out_topic, key=m.key(), value=m.value())
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.flush(30)
            consumer.store_offsets(
                offsets=[
                    TopicPartition(m.topic(), m.partition(), m.offset() + 1)
                    for m in _last_per_partition(good)
                ]
            )
            done += len(good)
        elapsed, cpu = (
            time.perf_counter() - (started or time.perf_counter()),
            time.process_time() - cpu_started,
        )
    finally:
        consumer.close()
    return done / elapsed, cpu / done


def _last_per_partition(messages):  # type: ignore[no-untyped-def]
    last = {}
    for m in messages:
        last[m.partition()] = m
    return list(last.values())


class CountingProcessor:
    """The real scorer processor; stops the runner once ``count`` items went through."""

    def __init__(self, inner: ScorerProcessor, count: int, stop: StopFlag) -> None:
        self.inner, self.count, self.stop = inner, count, stop
        self.done = 0
        self.started: float | None = None
        self.cpu_started = 0.0
        self.elapsed = self.cpu = 0.0

    def process(self, messages, outputs) -> None:  # type: ignore[no-untyped-def]
        if self.started is None:
            self.started = time.perf_counter()
            self.cpu_started = time.process_time()
        self.inner.process(messages, outputs)
        self.done += len(messages)
        if self.done >= self.count:
            outputs.wait_delivered(30)  # the last batch's outputs count too
            self.elapsed = time.perf_counter() - self.started
            self.cpu = time.process_time() - self.cpu_started
            self.stop.set()

    def on_idle(self, outputs) -> None:  # type: ignore[no-untyped-def]
        self.inner.on_idle(outputs)


def scorer_throughput(
    settings: AlstreamSettings, count: int, model: ActiveModel, policy: Policy = POLICY
) -> tuple[float, float]:
    stop = StopFlag()
    processor = CountingProcessor(ScorerProcessor(settings=settings, policy=policy, model=model), count, stop)
    runner = BatchAgentRunner(
        agent="scorer",
        settings=settings,
        topics=[settings.kafka.topic("items")],
        group_id=f"bench-scorer-{uuid.uuid4().hex[:6]}",
        processor=processor,
        batch_size=settings.scorer.batch_size,
    )
    runner.run(stop)
    return processor.done / processor.elapsed, processor.cpu / processor.done


def latency(
    settings: AlstreamSettings, env: dict[str, str], *, rate: int, seconds: float, workdir: Path
) -> tuple[float, float, int]:
    """Offered load of ``rate`` items/s to a scorer subprocess; p50/p99 of item produced -> score
    consumable."""
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    reader = Consumer(consumer_config(settings, group_id=f"bench-read-{uuid.uuid4().hex[:6]}"))
    topic = settings.kafka.topic("scores")
    parts = reader.list_topics(topic, timeout=10).topics[topic].partitions
    reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    stop_reading = threading.Event()
    warmed_up = threading.Event()

    def read() -> None:
        while not stop_reading.is_set():
            for m in reader.consume(5000, 0.05):
                if m.error() is None:
                    item_id = m.key().decode()  # the scorer keys each score by its item_id
                    received.setdefault(item_id, time.time())
                    if item_id.startswith("item-01"):  # a warm-up item: ids 10,000,000-19,999,999
                        warmed_up.set()

    log = (workdir / "latency-scorer.log").open("ab")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("alstream")), "agent", "scorer"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    producer = Producer(producer_config(settings))
    items_topic = settings.kafka.topic("items")
    rng = np.random.default_rng(2)
    try:
        # warm up until the scorer joined its group and scores flow
        warm_deadline = time.monotonic() + 60
        i = 10_000_000
        while time.monotonic() < warm_deadline and not warmed_up.is_set():
            producer.produce(
                items_topic,
                key=f"item-{i:09d}",
                value=encode_item(i, rng.normal(size=DIM).astype("<f4"), int(time.time() * 1000)),
            )
            producer.poll(0)
            i += 1
            time.sleep(0.01)
        start = time.perf_counter()
        n_total = int(rate * seconds)
        chunk = max(1, rate // 200)  # produce in 5 ms slices
        embeddings = rng.normal(size=(n_total, DIM)).astype("<f4")
        for k in range(0, n_total, chunk):
            target = start + k / rate
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            for j in range(k, min(n_total, k + chunk)):
                item_id = f"item-{20_000_000 + j:09d}"
                now = time.time()
                producer.produce(
                    items_topic,
                    key=item_id,
                    value=encode_item(20_000_000 + j, embeddings[j], int(now * 1000)),
                )
                sent[item_id] = now
            producer.poll(0)
        producer.flush(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(k in received for k in sent):
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(30)
        stop_reading.set()
        thread.join(5)
        reader.close()
    lat = np.array([received[k] - t for k, t in sent.items() if k in received])
    if os.environ.get("BENCH_DEBUG"):
        print(
            "latency by tenth of the run (ms):",
            [round(float(np.median(c)) * 1000) for c in np.array_split(lat, 10)],
        )
        print((workdir / "latency-scorer.log").read_text()[-2000:])
    missing = sum(1 for k in sent if k not in received)
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs of each path; medians are reported"
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--committee", default="lr+lr,lr+nb", help="comma-separated: lr+lr, lr+nb, default (the trainer's)"
    )
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="policy file for the throughput runs (default: kl_disagreement, no diversity), e.g. "
        "policies/default.toml",
    )
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        cluster_env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap} if bootstrap else {}
        if not bootstrap:
            from alstream.streams.embedded_broker import EmbeddedBroker

            cluster_env = stack.enter_context(EmbeddedBroker()).client_environment()
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        env = {
            **os.environ,
            **cluster_env,
            "ALSTREAM_KAFKA__TOPIC_PREFIX": prefix,
            "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "ALSTREAM_METRICS__PORT": "0",
            "ALSTREAM_TASK__CLASSES": str(CLASSES).replace("'", '"'),
            "ALSTREAM_SCORER__BATCH_SIZE": str(args.batch_size),
            "ALSTREAM_PATHS__STATE_DIR": str(workdir / "state"),
            "ALSTREAM_SCORER__MODEL_CATCH_UP_S": "1",
        }
        settings = load_settings(environ=env)  # the scorer subprocess gets the same as its environment
        # As `alstream agent scorer` does; process-wide, so before any measured path (the passthrough too).
        tune_native_libraries(threads=settings.scorer.native_threads)
        create_topics(settings, partitions_override=args.partitions)
        bundle = make_bundle("lr+lr")
        artifact = workdir / "bench-model.skops"
        sha = save_bundle(bundle, artifact)

        policy = load_policy(args.policy) if args.policy else POLICY
        print(
            f"broker {settings.kafka.bootstrap_servers}, {args.partitions} partitions, {args.items:,} items, "
            f"64-dim, 10 classes, no production probabilities, policy {policy.version} "
            f"(signal {policy.signal_name}, diversity {policy.diversity.method}), batch {args.batch_size}"
        )
        produce_rate = produce_items(settings, args.items)
        print(f"produce (setup):            {produce_rate:>10,.0f} items/s")
        runs: dict[str, list[tuple[float, float]]] = {"passthrough": []}
        models = {
            kind: ActiveModel.from_bundle(
                version=f"bench-{kind}", bundle=make_bundle(kind), task_classes=CLASSES, embedding_dim=DIM
            )
            for kind in args.committee.split(",")
        }
        for _ in range(args.repeats):  # interleaved, so a noisy neighbour hurts every path alike
            runs["passthrough"].append(passthrough(settings, args.items))
            for kind, model in models.items():
                runs.setdefault(kind, []).append(scorer_throughput(settings, args.items, model, policy))
        pass_rate = float(np.median([r for r, _ in runs["passthrough"]]))
        pass_cpu = float(np.median([c for _, c in runs["passthrough"]]))
        print(
            f"raw passthrough:            {pass_rate:>10,.0f} items/s  {pass_cpu * 1e6:5.1f} CPU-us/item  "
            f"(median of {args.repeats}; runs {', '.join(f'{r:,.0f}' for r, _ in runs['passthrough'])})"
        )
        for kind in models:
            rate = float(np.median([r for r, _ in runs[kind]]))
            cpu = float(np.median([c for _, c in runs[kind]]))
            run_rates = ", ".join(f"{r:,.0f}" for r, _ in runs[kind])
            print(
                f"scorer, committee {kind}:  {rate:>10,.0f} items/s  {cpu * 1e6:5.1f} CPU-us/item  "
                f"ratio to passthrough {rate / pass_rate:.2f} (CPU ratio {pass_cpu / cpu:.2f}; "
                f"runs {run_rates})"
            )
        print(
            "scorer = decode, slice, committee, score, produce scores + candidates, "
            "store offsets after delivery"
        )
        print(
            "targets: ratio >= 0.5 and >= 50,000 items/s; "
            f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )

        if args.skip_latency:
            return
        policy_file = workdir / "policy.toml"
        policy_file.write_text(
            'version = "bench-1"\ngoal = "benchmark"\n[signal]\nname = "kl_disagreement"\n', encoding="utf-8"
        )
        latency_env = {
            **env,
            "ALSTREAM_PATHS__POLICY_FILE": str(args.policy.resolve() if args.policy else policy_file),
            "ALSTREAM_SCORER__BOOTSTRAP_MODEL": str(artifact),
            "ALSTREAM_SCORER__BOOTSTRAP_MODEL_SHA256": sha,
            "ALSTREAM_SCORER__GROUP_ID": f"bench-lat-{uuid.uuid4().hex[:6]}",
        }
        p50, p99, missing = latency(
            settings, latency_env, rate=args.rate, seconds=args.latency_seconds, workdir=workdir
        )
        print(
            f"latency at {args.rate:,} items/s offered for {args.latency_seconds:g} s "
            "(scorer subprocess, item produced -> score consumed): "
            f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, {missing} items unscored"
        )


if __name__ == "__main__":
    main()
