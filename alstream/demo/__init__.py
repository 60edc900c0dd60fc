"""``alstream demo``: the whole active-learning loop on one machine, on the embedded broker."""
