"""Errors of the selection package."""

from alstream.exceptions import AlstreamError


class SelectionError(AlstreamError):
    """Base class for selection errors."""


class PolicyError(SelectionError):
    """A policy file is missing, malformed, or its values are refused. The message says how to fix it."""


class PolicyChangeRefused(PolicyError):
    """Applying a policy was refused: same version with different content, or a change within a week."""


class UnknownSignal(SelectionError):
    """A policy names a selection signal that does not exist."""


class SignalInputError(SelectionError):
    """A signal was given inputs it cannot score (e.g. no probabilities, wrong shapes)."""


class FailureBankError(SelectionError):
    """The failure bank file is unreadable or its embeddings have the wrong dimension."""
