"""Why a READY was not fully served, and why a calibration item was refused: bounded vocabularies.

These strings are metric label values (``alstream_router_ready_unserved_total{reason}``,
``alstream_router_annotators_idle{reason}``, ``alstream_router_calibration_refused_total{reason}``) and
the ``reason`` of the router's status records (``schemas/router-status.avsc``), so they never carry
ids. docs/operations.md says what the labeling lead does about each.
"""

from __future__ import annotations

from alstream.contracts.enums import UNSERVED_REASONS, member

# A READY asked for more than the shard gave. One primary reason per READY and shard, most actionable
# first: a rule that holds back work the annotator could do, then work they cannot do, then none.
# the annotator already holds max_in_flight open assignments (busy)
IN_FLIGHT_CAP = member("in_flight_cap", UNSERVED_REASONS)
# hard work waits, but max_hard_per_day is used up in the rolling day
HARD_QUOTA = member("hard_quota", UNSERVED_REASONS)
# hard work waits, but it would push the non-hard share below the minimum
NORMAL_SHARE = member("normal_share", UNSERVED_REASONS)
# only QA gold / random-slice work waits, and it is at its share cap
MIX_SHARE = member("mix_share", UNSERVED_REASONS)
# work waits, but it needs skills the annotator does not have
SKILLS = member("skills", UNSERVED_REASONS)
# work waits, but the annotator had every such item before
ALREADY_SEEN = member("already_seen", UNSERVED_REASONS)
# this shard's pool holds nothing
EMPTY_POOL = member("empty_pool", UNSERVED_REASONS)

# Which rule wins when several hold back available work (the earlier, the more specific).
RULE_PRIORITY = (HARD_QUOTA, NORMAL_SHARE, MIX_SHARE)

# A calibration round named an item this shard should assign but cannot vouch for.
UNKNOWN_ITEM = "unknown_item"  # never pooled or assigned by the shard that owns its partition
CALIBRATION_REFUSALS = (UNKNOWN_ITEM,)


def primary(reasons: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The reason to show first among several (e.g. one per shard), by the order of UNSERVED_REASONS."""
    ranked = [reason for reason in UNSERVED_REASONS if reason in reasons]
    return ranked[0] if ranked else None
