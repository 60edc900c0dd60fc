"""Replays a labeled dataset through the agents' policy, random-slice and committee code, against random.

It is the baseline the guide asks for before smart selection: it shows, on data with known answers,
how many labels the configured policy saves to reach a target metric.
"""
