"""Operating on the dead-letter topic: read, filter and follow dead letters, and replay them.

``alstream.streams.dead_letters`` writes dead letters; this package is the operator's side of it,
behind ``alstream dead-letters list|tail|replay``.
"""
