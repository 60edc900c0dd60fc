"""Settings section ``[scorer]`` (env ``ALSTREAM_SCORER__*``), owned by the ML owner."""

from alstream.config_base import Section


class ScorerSettings(Section):
    """Tunables of the scorer agent."""

    group_id: str = "alstream-scorer"
