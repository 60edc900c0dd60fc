"""Errors of the Label Studio bridge."""

from alstream.exceptions import AlstreamError, ConfigError


class LabelStudioError(AlstreamError):
    """Base of the bridge's errors."""


class MissingExtra(ConfigError):
    """``label-studio-sdk`` is not installed: the message names the extra to install."""


class LabelStudioUnavailable(LabelStudioError):
    """Label Studio did not answer or refused a request; the bridge retries on its next cycle."""


class ProjectConflict(ConfigError):
    """The project exists with a labeling config the bridge cannot reconcile with the task's classes."""


class RejectedAnnotation(LabelStudioError):
    """An annotation that cannot become a label; it is dead-lettered with this reason."""


class WrongAnnotator(RejectedAnnotation):
    """The annotation was made by someone other than the assignee (every user sees every tab)."""


class UnknownAnnotator(RejectedAnnotation):
    """The annotation's author is not a known Label Studio user."""


class NoChoice(RejectedAnnotation):
    """The annotation holds no usable choice (empty result, several choices, a value not in the classes)."""


class MalformedAnnotation(RejectedAnnotation):
    """An annotation whose id or times are not what Label Studio writes."""


class UnknownTask(RejectedAnnotation):
    """The task carries no assignment the bridge imported (created by hand in Label Studio)."""
