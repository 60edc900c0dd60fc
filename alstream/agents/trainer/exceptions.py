"""Errors of the trainer: bad training data, missing validation set, refused models."""

from alstream.exceptions import AlstreamError


class TrainerError(AlstreamError):
    """The trainer cannot train (no data, no validation set, unknown classes)."""


class ModelRefused(TrainerError):
    """A new model is worse than the current one beyond the configured tolerance; it was not published."""


class PublishFailed(TrainerError):
    """The model was saved but the broker did not acknowledge its announcement; the run must be retried."""
