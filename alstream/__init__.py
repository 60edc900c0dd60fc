"""alstream: active learning for data-labeling teams, run as a streaming service on Kafka."""

__version__ = "0.1.0"
