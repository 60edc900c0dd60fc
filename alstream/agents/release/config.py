"""Settings section ``[release]`` (env ``ALSTREAM_RELEASE__*``), owned by the ML owner."""

from alstream.config_base import Section


class ReleaseSettings(Section):
    """Tunables of the release agent."""

    group_id: str = "alstream-release"
