"""Selection code shared by the scorer, the simulator and the CLI: policy, signals, random slice,
failure bank.

Kept apart from the scorer agent so offline tools (the simulator, ``alstream policy``) can rank items
exactly as the live scorer does without importing any Kafka machinery.
"""
