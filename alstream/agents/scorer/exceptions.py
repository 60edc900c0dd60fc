"""Errors of the scorer agent."""

from alstream.exceptions import AlstreamError


class ScorerError(AlstreamError):
    """Base class for scorer errors."""


class ModelSwapError(ScorerError):
    """An announced model could not be loaded; the scorer keeps the model it has."""
