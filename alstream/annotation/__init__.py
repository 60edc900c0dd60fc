"""The annotation-tool contract: a small SDK (:mod:`.client`) and the reference client behind
``alstream annotate``.

See docs/annotation-tool-contract.md.
"""
