"""Errors of the annotation SDK."""

from alstream.exceptions import AlstreamError


class AnnotationError(AlstreamError):
    """Base of annotation SDK errors."""


class InvalidLabel(AnnotationError):
    """A label the labels agent would reject (value not in the assignment's classes, times reversed...)."""
