"""Settings section ``[trainer]`` (env ``ALSTREAM_TRAINER__*``), owned by the ML owner."""

from alstream.config_base import Section


class TrainerSettings(Section):
    """Tunables of the trainer agent."""

    group_id: str = "alstream-trainer"
