"""The agreement agent."""
