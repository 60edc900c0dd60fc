"""The root of every error alstream raises on purpose.

Each package has its own ``exceptions.py`` whose classes derive from :class:`AlstreamError`, so a
caller can catch everything of ours in one ``except`` while letting library bugs through.
"""


class AlstreamError(Exception):
    """Base class for all alstream errors."""


class ConfigError(AlstreamError):
    """A setting is missing or wrong. The message names the setting and how to fix it."""
