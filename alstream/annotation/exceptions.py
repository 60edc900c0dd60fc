"""Errors of the annotation SDK."""

from alstream.exceptions import AlstreamError


class AnnotationError(AlstreamError):
    """Base of annotation SDK errors."""


class InvalidLabel(AnnotationError):
    """A label the labels agent would refuse; ``reason`` is the label contract's reason code (e.g.
    ``ValueNotInClasses``, ``LateLabel``), the one its dead letter would carry."""

    def __init__(self, message: str, *, reason: str = "InvalidLabel") -> None:
        super().__init__(message)
        self.reason = reason
