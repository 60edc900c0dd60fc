"""The scorer agent."""
