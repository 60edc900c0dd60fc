"""Errors of the labels package. Why a label is refused is the label contract's to say: its violations
(:mod:`alstream.contracts.exceptions`) name each rule, and their class name is the dead letter's
``alstream.error.class`` header and the ``reason`` label of ``alstream_labels_rejected_total``."""

from alstream.exceptions import AlstreamError


class LabelsError(AlstreamError):
    """Base class for errors of the labels package."""
