"""Security helpers: Kafka ACLs for real clusters, and a SASL/SCRAM + TLS gateway for tests and demos.

The embedded broker (Tansu 0.6.0) cannot serve SCRAM logins or TLS on its own (see ``gateway``), so
the gateway in this package terminates both in front of it; production clusters do this themselves.
"""
