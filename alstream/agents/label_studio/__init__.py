"""The Label Studio bridge: Label Studio as the annotation front end, alstream as the brain.

``alstream agent label-studio`` imports each assignment as a Label Studio task in the annotator's queue
tab, turns submitted annotations into labels, and speaks for the annotators to the router (READY as
their queue drains, OFFLINE when they go idle). See docs/label-studio.md.

Nothing here imports ``label_studio_sdk`` at import time: the SDK is the optional extra
``alstream[label-studio]``, loaded only when the bridge starts (:mod:`.api`).
"""
