"""The trainer agent."""
