"""Why a READY was not fully served, and why a calibration item was refused: bounded vocabularies.

These strings are metric label values (``alstream_router_ready_unserved_total{reason}``,
``alstream_router_annotators_idle{reason}``, ``alstream_router_calibration_refused_total{reason}``) and
the ``reason`` of the router's status records (``schemas/router-status.avsc``), so they never carry
ids. docs/operations.md says what the labeling lead does about each.
"""

from __future__ import annotations

# A READY asked for more than the shard gave. One primary reason per READY and shard, most actionable
# first: a rule that holds back work the annotator could do, then work they cannot do, then none.
IN_FLIGHT_CAP = "in_flight_cap"  # the annotator already holds max_in_flight open assignments (busy)
HARD_QUOTA = "hard_quota"  # hard work waits, but max_hard_per_day is used up in the rolling day
NORMAL_SHARE = "normal_share"  # hard work waits, but it would push the non-hard share below the minimum
MIX_SHARE = "mix_share"  # only QA gold / random-slice work waits, and it is at its share cap
SKILLS = "skills"  # work waits, but it needs skills the annotator does not have
ALREADY_SEEN = "already_seen"  # work waits, but the annotator had every such item before
EMPTY_POOL = "empty_pool"  # this shard's pool holds nothing

UNSERVED_REASONS = (
    IN_FLIGHT_CAP,
    HARD_QUOTA,
    NORMAL_SHARE,
    MIX_SHARE,
    SKILLS,
    ALREADY_SEEN,
    EMPTY_POOL,
)
# Which rule wins when several hold back available work (the earlier, the more specific).
RULE_PRIORITY = (HARD_QUOTA, NORMAL_SHARE, MIX_SHARE)

# A calibration round named an item this shard should assign but cannot vouch for.
UNKNOWN_ITEM = "unknown_item"  # never pooled or assigned by the shard that owns its partition
CALIBRATION_REFUSALS = (UNKNOWN_ITEM,)


def primary(reasons: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The reason to show first among several (e.g. one per shard), by the order of UNSERVED_REASONS."""
    ranked = [reason for reason in UNSERVED_REASONS if reason in reasons]
    return ranked[0] if ranked else None
