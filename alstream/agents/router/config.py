"""Settings section ``[router]`` (env ``ALSTREAM_ROUTER__*``), owned by the labeling lead."""

from alstream.config_base import Section


class RouterSettings(Section):
    """Tunables of the router agent."""

    group_id: str = "alstream-router"
