"""Settings section ``[agreement]`` (env ``ALSTREAM_AGREEMENT__*``), owned by the labeling lead."""

from alstream.config_base import Section


class AgreementSettings(Section):
    """Tunables of the agreement agent."""

    group_id: str = "alstream-agreement"
