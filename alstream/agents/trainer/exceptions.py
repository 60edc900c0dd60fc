"""Errors of the trainer: bad training data, missing validation set, refused models."""

from alstream.exceptions import AlstreamError
from alstream.streams.exceptions import RetryLater


class TrainerError(AlstreamError):
    """The trainer cannot train (no data, no validation set, unknown classes)."""


class ModelRefused(TrainerError):
    """A new model is worse than the current one beyond the configured tolerance; it was not published."""


class PublishFailed(TrainerError, RetryLater):
    """The model was saved but the broker did not acknowledge its announcement: the agent runtime
    processes the release again later (the broker, not the release, failed)."""


class ForeignRelease(TrainerError):
    """A release announcement whose URI is not its release in the configured release store
    (``release.root_uri``): the trainer reads releases from that store only, never from where an
    announcement points."""
