"""The tool gateway: binds annotators to the annotation tools (Kafka principals) allowed to act for them."""
