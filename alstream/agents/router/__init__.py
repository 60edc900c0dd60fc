"""The router agent."""
