"""Settings section ``[router]`` (env ``ALSTREAM_ROUTER__*``), owned by the labeling lead."""

from typing import Self

from pydantic import Field, model_validator

from alstream.config_base import Section, group_id_field


class RouterSettings(Section):
    """Tunables of the router agent (the quota rules themselves live in ``paths.quotas_file``)."""

    group_id: str = group_id_field("alstream-router")
    pool_max_per_shard: int = Field(
        default=1_000_000, ge=10, description="Bound of pooled candidates per shard."
    )
    candidate_max_age_s: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="Candidates selected longer ago than this age out of the pool.",
    )
    fresh_pool_max: int = Field(
        default=500, ge=0, description="Bound of the monthly fresh real pool per shard."
    )
    calibration_max_age_s: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="Calibration rounds older than this are no longer assigned.",
    )
    tick_interval_s: float = Field(
        default=5.0, gt=0, description="How often every shard sweeps expired leases (even a quiet one)."
    )
    batch_max_records: int = Field(
        default=2_000,
        ge=1,
        description="Most input records handled per batch (one changelog and one assignments round trip "
        "per batch: larger batches carry more load, smaller ones answer sooner under load).",
    )
    poll_timeout_s: float = Field(
        default=0.005,
        gt=0,
        le=1.0,
        description="How long a poll waits for the first records of a batch before idle work runs.",
    )
    instance_id: str | None = Field(
        default=None,
        min_length=1,
        description="A stable name per router replica (e.g. a StatefulSet pod name): static group "
        "membership, so a restarted replica gets its shards back at once instead of after the group "
        "notices the old process is gone (kafka.session_timeout_ms). Two running replicas must never "
        "share one.",
    )
    transactions: bool = Field(
        default=False,
        description="Commit each batch's table writes, assignments, event copies and input offsets in one "
        "Kafka transaction (and fence a paused, replaced worker). Needs a broker with complete "
        "transactions (Apache Kafka) and an instance_id; without it the write order alone keeps a crash "
        "safe.",
    )
    checkpoint_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="How often each shard's local checkpoint (state_dir/router/) catches up with its "
        "changelog; a restore reads the checkpoint and only the changelog written after it.",
    )

    @model_validator(mode="after")
    def _transactions_need_a_stable_id(self) -> Self:
        # The transactional id is the instance id: a restarted replica's init_transactions then aborts
        # the transaction its killed process left open. With an id that changes per process, that
        # transaction stays open until the broker times it out, and read_committed readers (annotation
        # tools reading assignments) see nothing past it until then.
        if self.transactions and self.instance_id is None:
            raise ValueError(
                "router.transactions needs router.instance_id (a stable name per replica, e.g. the pod "
                "name): set ALSTREAM_ROUTER__INSTANCE_ID, or turn transactions off"
            )
        return self
