"""Prometheus metrics shared by every agent, and the /metrics endpoint."""
