"""The release agent."""
