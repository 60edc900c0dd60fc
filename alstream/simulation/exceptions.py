"""Errors of the simulator: unknown dataset, missing label column, impossible budget."""

from alstream.exceptions import AlstreamError


class SimulationError(AlstreamError):
    """The simulation cannot run as asked; the message says which option to fix."""
