"""Why a label was rejected. The class name is the dead letter's ``alstream.error.class`` header and the
``reason`` label of ``alstream_labels_rejected_total``, so each rule is visible on its own."""

from alstream.exceptions import AlstreamError


class LabelsError(AlstreamError):
    """Base class for errors of the labels package."""


class InvalidLabel(LabelsError):
    """A label that breaks a rule of its assignment. Such labels go to dead letters."""


class UnknownAssignment(InvalidLabel):
    """The label cites an assignment that was not seen within the hold time."""


class WrongAnnotator(InvalidLabel):
    """The label's annotator is not the one the assignment was given to."""


class WrongItem(InvalidLabel):
    """The label's item is not the assignment's item."""


class ValueNotInClasses(InvalidLabel):
    """A LABELED label whose value is missing or not one of the task's classes."""


class SubmittedBeforeStarted(InvalidLabel):
    """submitted_at is earlier than started_at."""


class UnknownRootCause(InvalidLabel):
    """root_cause is not in the configured closed list."""


class UndecodableLabel(InvalidLabel):
    """The record's bytes are not a label."""
