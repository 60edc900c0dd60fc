"""Kafka plumbing: schemas, codecs, topics, client configuration, dead letters and the embedded broker."""
