"""Settings section ``[contracts]`` (env ``ALSTREAM_CONTRACTS__*``): the time tolerances every
component applies the same way, so a record is judged alike by the SDK, the agents and a release."""

from pydantic import Field

from alstream.config_base import Section


class ContractsSettings(Section):
    """How far clocks may disagree, and how old an annotator event may be when it is read."""

    clock_skew_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Clock-skew allowance between machines: how far in the future a time may lie, how "
        "long before its assignment a label may start and how long after its lease it may be submitted.",
    )
    max_event_age_s: float = Field(
        default=7 * 86_400.0,
        gt=0,
        description="Annotator events whose occurred_at is older than this when the router reads them "
        "are refused (ImpossibleTime): no tool waits that long for an answer.",
    )
