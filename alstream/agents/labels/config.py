"""Settings section ``[labels]`` (env ``ALSTREAM_LABELS__*``), owned by the labeling lead."""

from alstream.config_base import Section


class LabelsSettings(Section):
    """Tunables of the labels agent."""

    group_id: str = "alstream-labels"
