"""Errors of the router agent."""

from alstream.exceptions import AlstreamError, ConfigError


class RouterError(AlstreamError):
    """Base of router errors."""


class QuotaConfigError(ConfigError):
    """The labeling lead's quotas file is missing a version or holds an impossible value."""


class PartitionLayoutError(RouterError):
    """Candidates, annotator-events and labels must have the same partition count (they form the shards)."""
